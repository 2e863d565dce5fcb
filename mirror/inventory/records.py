"""The inventory as reports and SBOMs read it: one view per served revision, with everything joined.

Views are built from what storage holds, plus the publisher table; nothing here writes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mirror.inventory.publishers import UNKNOWN, Publisher, PublisherTable
from mirror.review.transitions import ReviewState
from storage.inventory_store import (
    EVERYTHING,
    DownloadTally,
    InventoryStore,
    ReviewMark,
    Scope,
    StoredFile,
    StoredRevision,
)
from storage.records import PRESENT_STATUS, RepoKey, UpstreamStatus

NOT_REQUIRED = "not-required"  # a revision whose licence needed no human: no review was kept
NOT_FETCHED = "not-fetched"  # a file hubgate knows of but never fetched: no verdict yet
UNCHECKED = "unchecked"  # a revision whose signature was never checked
UNRECORDED = "unrecorded"  # a revision served before the gate recorded licences


@dataclass(frozen=True, slots=True)
class Licence:
    """One licence as a model card states it (`license`, and for `other`: `license_name`)."""

    licence: str | None
    name: str | None = None
    link: str | None = None

    @property
    def shown(self) -> str:
        if (self.licence or "").lower() == "other":
            return f"other ({self.name})" if self.name else "other"
        return self.licence or "none stated"


@dataclass(frozen=True, slots=True)
class Ancestor:
    repo_id: str
    licences: tuple[Licence, ...]
    bucket: str


@dataclass(frozen=True, slots=True)
class OriginRecord:
    """One repository of a revision's lineage as the gate resolved its origin."""

    repo_id: str
    path: str  # `org-x/ft <- org-y/mid <- Qwen/Qwen2-7B`
    depth: int
    role: str  # repository | base model | lineage root
    root: bool
    relation: str
    org: str
    organisation: str
    country: str
    family: str
    entities: tuple[tuple[str, str], ...]  # (list, name as the list names it)
    unknown: str  # why the lineage cannot be followed past it

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "path": self.path,
            "depth": self.depth,
            "role": self.role,
            "root": self.root,
            "relation": self.relation,
            "org": self.org,
            "organisation": self.organisation,
            "country": self.country,
            "family": self.family,
            "entities": [{"list": name, "name": entity} for name, entity in self.entities],
            "unknown": self.unknown,
        }


@dataclass(frozen=True, slots=True)
class Origins:
    """The origins of a revision as the gate resolved them: its lineage, the verdict and the findings
    (audit-only ones included: what an audit-mode rule would have done)."""

    verdict: str  # allow | review | deny
    findings: tuple[dict[str, Any], ...]
    lineage: tuple[OriginRecord, ...]  # the revision's own repository first

    @property
    def roots(self) -> tuple[OriginRecord, ...]:
        """What the revision is built on: its lineage roots, and each repository past which the lineage is
        unknown (its own origin is what is known of that branch)."""
        return tuple(node for node in self.lineage if node.root or node.unknown)

    @property
    def complete(self) -> bool:
        return not any(node.unknown for node in self.lineage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recorded": True,
            "verdict": self.verdict,
            "complete": self.complete,
            "findings": list(self.findings),
            "roots": [node.to_dict() for node in self.roots],
            "lineage": [node.to_dict() for node in self.lineage],
        }


def parse_origins(text: str) -> Origins | None:
    """The stored origins JSON; None when the revision was decided before origins were recorded."""
    if not text:
        return None
    stored = json.loads(text)
    return Origins(
        verdict=str(stored.get("verdict", "")),
        findings=tuple(stored.get("findings", ())),
        lineage=tuple(
            OriginRecord(
                repo_id=item["repo_id"],
                path=item.get("path", item["repo_id"]),
                depth=int(item.get("depth", 0)),
                role=item.get("role", ""),
                root=bool(item.get("root")),
                relation=item.get("relation", ""),
                org=item.get("org", ""),
                organisation=item.get("organisation", UNKNOWN),
                country=item.get("country", UNKNOWN),
                family=item.get("family", UNKNOWN),
                entities=tuple((mark["list"], mark["name"]) for mark in item.get("entities", ())),
                unknown=item.get("unknown", ""),
            )
            for item in stored.get("nodes", ())
        ),
    )


@dataclass(frozen=True, slots=True)
class Card:
    pipeline_tag: str = ""
    library_name: str = ""
    base_models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tally:
    downloads: int = 0
    bytes: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(downloads=self.downloads + other.downloads, bytes=self.bytes + other.bytes)


@dataclass(frozen=True, slots=True)
class FileView:
    path: str
    size: int
    sha256: str | None
    git_oid: str
    lfs: bool
    review_state: str  # a review state, or "not-fetched"
    review_id: int | None
    served: Tally


@dataclass(frozen=True, slots=True)
class RevisionView:
    repo_type: str  # model | dataset | space
    repo_id: str
    commit: str
    publisher: Publisher
    licences: tuple[Licence, ...]
    licence_bucket: str  # the strictest over the lineage, as the gate resolved it; or "unrecorded"
    licence_verdict: str  # allow | review | deny, or "" when unrecorded
    policy_version: str
    lineage: tuple[Ancestor, ...]
    card: Card
    origins: Origins | None  # None: decided before origins were recorded (re-evaluation fills it in)
    signature: str  # verified | failed | unsigned | not-required | unchecked
    signer: str
    review_state: str  # the revision review's state, or "not-required"
    review_id: int | None
    first_served_at: datetime | None  # None: judged by the gate, never served
    last_served_at: datetime | None
    files: tuple[FileView, ...]
    by_identity: Mapping[str, Tally] = field(default_factory=dict)
    upstream: UpstreamStatus = PRESENT_STATUS  # what the Hub says of the repo

    @property
    def upstream_state(self) -> str:
        """`present`, or `removed since DATE` / `gated since DATE`: whether the Hub still serves the repo."""
        return upstream_text(self.upstream)

    @property
    def name(self) -> str:
        return self.repo_id.split("/", 1)[1] if "/" in self.repo_id else self.repo_id

    @property
    def namespace(self) -> str | None:
        return self.repo_id.split("/", 1)[0] if "/" in self.repo_id else None

    @property
    def served(self) -> Tally:
        return sum(self.by_identity.values(), Tally())

    @property
    def served_paths(self) -> tuple[str, ...]:
        return tuple(view.path for view in self.files if view.served.downloads)

    @property
    def licence_shown(self) -> str:
        return " + ".join(licence.shown for licence in self.licences) if self.licences else UNRECORDED

    @property
    def approved(self) -> bool:
        """The gate let the revision through: its licence (if a human was needed) and every file it
        fetched are approved."""
        revision_ok = self.review_state in (NOT_REQUIRED, ReviewState.APPROVED.value)
        files_ok = all(view.review_state in (NOT_FETCHED, ReviewState.APPROVED.value) for view in self.files)
        return revision_ok and files_ok and self.licence_verdict != ""

    def to_dict(self) -> dict[str, Any]:
        served = self.served
        return {
            "repo_type": self.repo_type,
            "repo_id": self.repo_id,
            "commit": self.commit,
            "origin": _publisher_dict(self.publisher),
            "origins": {"recorded": False} if self.origins is None else self.origins.to_dict(),
            "licence": {
                "stated": [
                    {"licence": item.licence, "name": item.name, "link": item.link} for item in self.licences
                ],
                "bucket": self.licence_bucket,
                "verdict": self.licence_verdict,
                "policy_version": self.policy_version,
                "lineage": [
                    {
                        "repo_id": ancestor.repo_id,
                        "licences": [item.shown for item in ancestor.licences],
                        "bucket": ancestor.bucket,
                    }
                    for ancestor in self.lineage
                ],
            },
            "card": {
                "pipeline_tag": self.card.pipeline_tag,
                "library_name": self.card.library_name,
                "base_model": list(self.card.base_models),
                "datasets": list(self.card.datasets),
                "language": list(self.card.languages),
            },
            "signature": {"status": self.signature, "signer": self.signer},
            "review": {"state": self.review_state, "id": self.review_id},
            "approved": self.approved,
            "upstream_state": self.upstream_state,
            "upstream": {
                "state": self.upstream.state,
                "since": None if self.upstream.since is None else self.upstream.since.isoformat(),
                "detail": self.upstream.detail,
            },
            "first_served_at": _iso(self.first_served_at),
            "last_served_at": _iso(self.last_served_at),
            "downloads": {
                "count": served.downloads,
                "bytes": served.bytes,
                "by_identity": {
                    identity: {"count": tally.downloads, "bytes": tally.bytes}
                    for identity, tally in sorted(self.by_identity.items())
                },
            },
            "files": [
                {
                    "path": view.path,
                    "size": view.size,
                    "sha256": view.sha256,
                    "git_oid": view.git_oid,
                    "lfs": view.lfs,
                    "review": {"state": view.review_state, "id": view.review_id},
                    "downloads": {"count": view.served.downloads, "bytes": view.served.bytes},
                }
                for view in self.files
            ],
        }


class Inventory:
    """Reads the inventory: served revisions with their origin, licence, files, reviews and downloads."""

    def __init__(self, store: InventoryStore, publishers: PublisherTable) -> None:
        self.store = store
        self.publishers = publishers

    async def revisions(self, scope: Scope = EVERYTHING) -> list[RevisionView]:
        stored = await self.store.revisions(scope)
        files: dict[tuple[RepoKey, str], list[StoredFile]] = defaultdict(list)
        for stored_file in await self.store.files(scope):
            files[(stored_file.repo, stored_file.commit)].append(stored_file)
        tallies: dict[tuple[RepoKey, str], list[DownloadTally]] = defaultdict(list)
        for tally in await self.store.tallies(scope):
            tallies[(tally.repo, tally.commit)].append(tally)
        now = datetime.now(UTC)
        return [
            build_view(
                revision,
                files=files.get((revision.repo, revision.commit), []),
                tallies=tallies.get((revision.repo, revision.commit), []),
                publishers=self.publishers,
                now=now,
            )
            for revision in stored
        ]


def _publisher_dict(publisher: Publisher) -> dict[str, str]:
    return {
        "org": publisher.org,
        "organisation": publisher.organisation,
        "country": publisher.country,
        "family": publisher.family,
    }


def build_view(
    revision: StoredRevision,
    *,
    files: Sequence[StoredFile],
    tallies: Sequence[DownloadTally],
    publishers: PublisherTable,
    now: datetime,
) -> RevisionView:
    """Join one stored revision with its own files and download tallies."""
    per_path: dict[str, Tally] = {}
    per_identity: dict[str, Tally] = {}
    for tally in tallies:
        counted = Tally(downloads=tally.count, bytes=tally.bytes)
        per_path[tally.path] = per_path.get(tally.path, Tally()) + counted
        per_identity[tally.identity] = per_identity.get(tally.identity, Tally()) + counted
    views = tuple(
        FileView(
            path=stored.path,
            size=stored.size,
            sha256=stored.sha256,
            git_oid=stored.git_oid,
            lfs=stored.lfs,
            review_state=NOT_FETCHED if stored.review is None else effective_state(stored.review, now),
            review_id=None if stored.review is None else stored.review.id,
            served=per_path.get(stored.path, Tally()),
        )
        for stored in files
    )
    facts = revision.facts
    recorded = bool(facts.licence_bucket)
    signature = revision.signature
    return RevisionView(
        repo_type=revision.repo.repo_type,
        repo_id=revision.repo.repo_id,
        commit=revision.commit,
        publisher=publishers.lookup(revision.repo.repo_id),
        licences=tuple(
            Licence(licence=item.get("licence"), name=item.get("name"), link=item.get("link"))
            for item in json.loads(facts.licences)
        ),
        licence_bucket=facts.licence_bucket if recorded else UNRECORDED,
        licence_verdict=facts.licence_verdict,
        policy_version=facts.policy_version,
        lineage=tuple(
            Ancestor(
                repo_id=item["repo_id"],
                licences=tuple(
                    Licence(licence=pair.get("licence"), name=pair.get("name")) for pair in item["licences"]
                ),
                bucket=item["bucket"],
            )
            for item in json.loads(facts.lineage)
        ),
        card=Card(
            pipeline_tag=facts.pipeline_tag,
            library_name=facts.library_name,
            base_models=tuple(json.loads(facts.base_models)),
            datasets=tuple(json.loads(facts.datasets)),
            languages=tuple(json.loads(facts.languages)),
        ),
        origins=parse_origins(facts.origins),
        signature=UNCHECKED if signature is None else signature.status,
        signer="" if signature is None else signature.signer,
        review_state=NOT_REQUIRED if revision.review is None else effective_state(revision.review, now),
        review_id=None if revision.review is None else revision.review.id,
        first_served_at=revision.first_served_at,
        last_served_at=revision.last_served_at,
        files=views,
        by_identity=per_identity,
        upstream=revision.upstream,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def upstream_text(status: UpstreamStatus) -> str:
    if status.state == "present" or status.since is None:
        return status.state
    return f"{status.state} since {status.since.astimezone(UTC).date().isoformat()}"


def effective_state(review: ReviewMark, now: datetime) -> str:
    """The state a request would see now: an approval whose waiver expired is a quarantine again."""
    expires = review.waiver_expires_at
    if review.state == ReviewState.APPROVED.value and expires is not None and expires <= now:
        return ReviewState.QUARANTINED.value
    return review.state
