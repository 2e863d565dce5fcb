"""What the inventory learns while hubgate works: revision decisions and served downloads.

The licence is kept as the gate resolved it (the card's licences, the bucket of the strictest licence
over the base_model lineage, the verdict and the policy that gave it), and so are the origins (the
publisher and every repository of the lineage with its country, family and entity lists, the origin
verdict and its findings, audit-only ones included), because the policy, the tables or the card can
change later and the inventory must say what was true when the revision was let through.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

from mirror.hub.models import RepoRef
from mirror.policy.engine import Decision, LicenceLink
from mirror.policy.licences import LicenceTable
from mirror.policy.origins import OriginNode
from storage.db import DATABASE_ERRORS
from storage.inventory_store import SERVED_STATE, InventoryStore, RevisionFacts, ServedSpan
from storage.queries import utcnow
from storage.records import DownloadEvent, RepoKey

log = logging.getLogger(__name__)
_MAX_ITEMS = 50  # a card is upstream input: keep what a report needs, not whatever it holds
_MAX_TEXT = 200
_MAX_PENDING = 100_000  # decisions are cached per revision, so this many unwritten means a long outage


class InventoryRecorder:
    """Collects licence decisions in memory and writes them with the download log's batches.

    Admission decides a revision's licence on the request path; writing the record there would put a
    database write (and, on SQLite, a wait for the write lock) before the first byte of a download.
    """

    def __init__(self, store: InventoryStore, licences: LicenceTable) -> None:
        self._store = store
        self._licences = licences
        self._pending: dict[tuple[RepoKey, str], RevisionFacts] = {}

    def revision_decided(
        self,
        repo: RepoRef,
        commit: str,
        *,
        card: Mapping[str, object],
        lineage: Sequence[LicenceLink],
        decision: Decision,
        origins: Sequence[OriginNode] = (),
        origin_decision: Decision | None = None,
        policy_version: str = "",
    ) -> None:
        """Note the gate's decision on a revision (licence over `lineage` as `decision`, origins of the
        `origins` nodes as `origin_decision`, the whole under `policy_version`) with the card facts."""
        key = (repo.key, commit)
        if key not in self._pending and len(self._pending) >= _MAX_PENDING:
            log.warning(
                "inventory: %d revision decisions wait for the database; %s@%s not kept",
                _MAX_PENDING,
                repo,
                commit,
            )
            return
        self._pending[key] = revision_facts(
            card,
            lineage,
            decision,
            self._licences,
            origins=origins,
            origin_decision=origin_decision,
            policy_version=policy_version,
        )

    async def write_decisions(self) -> None:
        """Write the decisions noted so far. On a database error they stay pending for the next round."""
        pending = dict(self._pending)
        if not pending:
            return
        try:
            await self._store.record_revisions(
                [(repo, commit, facts) for (repo, commit), facts in pending.items()]
            )
        except DATABASE_ERRORS as exc:
            log.warning(
                "inventory: %d licence decisions not written yet (%s); retrying later", len(pending), exc
            )
            return
        for key, facts in pending.items():
            # A newer decision that arrived during the write stays for the next round.
            if self._pending.get(key) is facts:
                del self._pending[key]

    async def served(self, events: Sequence[DownloadEvent]) -> None:
        """Widen the served window of every revision in a download-log batch (one write per revision).

        Raises one of storage.db.DATABASE_ERRORS: the download log retries the batch."""
        await self._store.mark_served(served_spans(events))


def served_spans(events: Sequence[DownloadEvent]) -> list[ServedSpan]:
    """First and last time per revision among the events that sent a file (refusals and cuts do not)."""
    spans: dict[tuple[RepoKey, str], ServedSpan] = {}
    now = utcnow()
    for event in events:
        if event.state != SERVED_STATE:
            continue
        at = event.at or now
        key = (RepoKey(repo_type=event.repo_type, repo_id=event.repo_id), event.commit)
        known = spans.get(key)
        if known is None:
            spans[key] = ServedSpan(repo=key[0], commit=event.commit, first=at, last=at)
        else:
            spans[key] = ServedSpan(
                repo=key[0], commit=event.commit, first=min(known.first, at), last=max(known.last, at)
            )
    return list(spans.values())


def revision_facts(
    card: Mapping[str, object],
    lineage: Sequence[LicenceLink],
    decision: Decision,
    table: LicenceTable,
    *,
    origins: Sequence[OriginNode] = (),
    origin_decision: Decision | None = None,
    policy_version: str = "",
) -> RevisionFacts:
    """The stored form of a revision decision: JSON lists and plain strings."""
    link = _text(card.get("license_link"))
    own = lineage[0].licences if lineage else ((None, None),)
    licences = [{"licence": licence, "name": name, "link": link or None} for licence, name in own]
    ancestors = [
        {
            "repo_id": ancestor.repo_id,
            "licences": [{"licence": licence, "name": name} for licence, name in ancestor.licences],
            "bucket": table.strictest(ancestor.licences or ((None, None),)).label,
        }
        for ancestor in lineage[1:]
    ]
    stated = [pair for ancestor in lineage for pair in (ancestor.licences or ((None, None),))]
    return RevisionFacts(
        licences=json.dumps(licences),
        licence_bucket=table.strictest(stated or ((None, None),)).label,
        licence_verdict=decision.verdict.name.lower(),
        lineage=json.dumps(ancestors),
        policy_version=policy_version or decision.policy_version,
        pipeline_tag=_text(card.get("pipeline_tag"))[:100],
        library_name=_text(card.get("library_name"))[:100],
        base_models=json.dumps(_texts(card.get("base_model"))),
        datasets=json.dumps(_texts(card.get("datasets"))),
        languages=json.dumps(_texts(card.get("language"))),
        origins="" if origin_decision is None else origins_json(origins, origin_decision),
    )


def origins_json(nodes: Sequence[OriginNode], decision: Decision) -> str:
    """The stored origins of a revision: the verdict, every finding (audit-only ones too) and the nodes."""
    return json.dumps(
        {
            "verdict": decision.verdict.name.lower(),
            "findings": [reason.to_dict() for reason in decision.reasons],
            "nodes": [node_dict(node) for node in nodes],
        }
    )


def node_dict(node: OriginNode) -> dict[str, object]:
    return {
        "repo_id": node.repo_id,
        "path": node.path,
        "depth": node.depth,
        "role": node.role,
        "root": node.is_root,
        "relation": node.relation,
        "org": node.namespace,
        "organisation": node.organisation,
        "country": node.country,
        "family": node.family,
        "entities": [{"list": mark.list, "name": mark.name} for mark in node.entities],
        "unknown": node.unknown,
    }


def _text(value: object) -> str:
    return value.strip()[:_MAX_TEXT] if isinstance(value, str) else ""


def _texts(value: object) -> list[str]:
    """A card field that may be one string or a list of them, as a bounded list of strings."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [text for text in (_text(item) for item in items[:_MAX_ITEMS]) if text]
