"""What the gate records for the inventory, and the views reports and SBOMs read back (on SQLite)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirror.hub.models import RepoRef, RepoType
from mirror.inventory.publishers import load_publishers
from mirror.inventory.recorder import InventoryRecorder, revision_facts, served_spans
from mirror.inventory.records import NOT_FETCHED, NOT_REQUIRED, Inventory
from mirror.policy.engine import LicenceLink, PolicyEngine
from mirror.policy.file import load_policy
from mirror.policy.origins import EntityMark, OriginNode
from storage import migrate
from storage.db import Database
from storage.download_records import DownloadRecords
from storage.inventory_store import InventoryStore
from storage.records import DownloadEvent, FileEntry, NewReview, ReviewChange, Waiver
from storage.repository import MetadataRepository
from storage.review_store import ReviewStore

ENGINE = PolicyEngine(load_policy(None))
REPO = RepoRef(RepoType.MODEL, "Qwen/Qwen-7B-Chat")
COMMIT = "c" * 40
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CARD: dict[str, object] = {
    "license": "other",
    "license_name": "tongyi-qianwen",
    "license_link": "LICENSE",
    "pipeline_tag": "text-generation",
    "library_name": "transformers",
    "language": ["en", "zh"],
    "datasets": "acme/corpus",
    "base_model": "Qwen/Qwen-7B",
}
LINEAGE = [
    LicenceLink(repo_id=REPO.repo_id, licences=(("other", "tongyi-qianwen"),)),
    LicenceLink(repo_id="Qwen/Qwen-7B", licences=(("cc-by-nc-4.0", None),)),
]


def _event(
    path: str, *, state: str = "APPROVED", identity: str = "anonymous", at: datetime = T0
) -> DownloadEvent:
    return DownloadEvent(
        blob_sha256="e" * 64,
        repo_type="model",
        repo_id=REPO.repo_id,
        commit=COMMIT,
        path=path,
        identity=identity,
        client="huggingface_hub/1.0",
        state=state,
        range_start=0,
        bytes=10,
        at=at,
    )


def test_the_licence_is_kept_as_the_gate_resolved_it_over_the_lineage() -> None:
    decision = ENGINE.decide_licence(LINEAGE)
    facts = revision_facts(CARD, LINEAGE, decision, ENGINE.licences)
    assert json.loads(facts.licences) == [{"licence": "other", "name": "tongyi-qianwen", "link": "LICENSE"}]
    assert facts.licence_bucket == "non-commercial"  # the base model's, the strictest
    assert facts.licence_verdict == "deny"
    assert facts.policy_version == ENGINE.version
    assert json.loads(facts.lineage) == [
        {
            "repo_id": "Qwen/Qwen-7B",
            "licences": [{"licence": "cc-by-nc-4.0", "name": None}],
            "bucket": "non-commercial",
        }
    ]
    assert (facts.pipeline_tag, facts.library_name) == ("text-generation", "transformers")
    assert json.loads(facts.languages) == ["en", "zh"]
    assert json.loads(facts.datasets) == ["acme/corpus"]  # one string becomes a list
    assert json.loads(facts.base_models) == ["Qwen/Qwen-7B"]


def test_odd_card_values_are_bounded_not_trusted() -> None:
    card: dict[str, object] = {"language": 5, "datasets": ["x" * 1000, 7, "ok"], "pipeline_tag": ["a"]}
    lineage = [LicenceLink(repo_id=REPO.repo_id, licences=((None, None),))]
    facts = revision_facts(card, lineage, ENGINE.decide_licence(lineage), ENGINE.licences)
    assert json.loads(facts.languages) == []
    assert [len(item) for item in json.loads(facts.datasets)] == [200, 2]
    assert facts.pipeline_tag == ""
    assert facts.licence_bucket == "unknown"


def test_served_spans_count_files_sent_only() -> None:
    later = T0 + timedelta(seconds=30)
    spans = served_spans(
        [
            _event("a", at=later),
            _event("b", at=T0),
            _event("c", state="CUT", at=T0 - timedelta(hours=1)),  # a cut download served nothing whole
        ]
    )
    assert [(span.repo.repo_id, span.commit, span.first, span.last) for span in spans] == [
        (REPO.repo_id, COMMIT, T0, later)
    ]
    assert served_spans([_event("c", state="CUT")]) == []


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await migrate.upgrade(db)
    yield db
    await db.close()


async def test_a_recorded_and_served_revision_reads_back_as_a_view(database: Database) -> None:
    store = InventoryStore(database)
    recorder = InventoryRecorder(store, ENGINE.licences)
    inventory = Inventory(store, load_publishers())
    decision = ENGINE.decide_licence(LINEAGE[:1])  # tongyi-qianwen alone: vendor, a human decides
    recorder.revision_decided(REPO, COMMIT, card=CARD, lineage=LINEAGE[:1], decision=decision)
    await recorder.write_decisions()
    await MetadataRepository(database).save_file_entries(
        REPO.key,
        COMMIT,
        [
            FileEntry(path="model.safetensors", size=10, git_oid="1" * 40, lfs_sha256="e" * 64),
            FileEntry(path="README.md", size=3, git_oid="2" * 40),
        ],
    )
    assert await inventory.revisions() == []  # decided on, nothing served yet

    events = [_event("model.safetensors"), _event("model.safetensors", identity="0123456789abcdef")]
    await recorder.served(events)
    await DownloadRecords(database).record_downloads(events)

    [view] = await inventory.revisions()
    assert (view.repo_id, view.commit, view.name, view.namespace) == (
        REPO.repo_id,
        COMMIT,
        "Qwen-7B-Chat",
        "Qwen",
    )
    assert (view.publisher.organisation, view.publisher.country) == ("Alibaba Cloud (Qwen team)", "CN")
    assert (view.licence_shown, view.licence_bucket, view.licence_verdict) == (
        "other (tongyi-qianwen)",
        "vendor",
        "review",
    )
    assert view.card.languages == ("en", "zh")
    assert (view.signature, view.review_state) == ("unchecked", NOT_REQUIRED)
    assert (view.first_served_at, view.last_served_at) == (T0, T0)
    assert (view.served.downloads, view.served.bytes) == (2, 20)
    assert set(view.by_identity) == {"anonymous", "0123456789abcdef"}
    assert view.served_paths == ("model.safetensors",)
    files = {item.path: item for item in view.files}
    assert files["model.safetensors"].sha256 == "e" * 64
    assert files["README.md"].review_state == NOT_FETCHED
    assert view.approved
    assert view.to_dict()["downloads"]["by_identity"]["anonymous"] == {"count": 1, "bytes": 10}


async def test_an_expired_waiver_reads_as_a_quarantine(database: Database) -> None:
    store = InventoryStore(database)
    reviews = ReviewStore(database)
    recorder = InventoryRecorder(store, ENGINE.licences)
    decision = ENGINE.decide_licence(LINEAGE[:1])
    recorder.revision_decided(REPO, COMMIT, card=CARD, lineage=LINEAGE[:1], decision=decision)
    await recorder.write_decisions()
    await recorder.served([_event("model.safetensors")])
    review = await reviews.create(
        NewReview(
            subject_kind="revision",
            subject=f"models/{REPO.repo_id}@{COMMIT}",
            state="QUARANTINED",
            severity="",
            reasons="[]",
            repo_type="model",
            repo_id=REPO.repo_id,
            commit=COMMIT,
            path="",
            size=0,
            policy_version="p",
            scanner_version="",
        ),
        actor="hubgate",
        reason="licence",
    )
    await reviews.apply(
        review.id,
        from_state="QUARANTINED",
        change=ReviewChange(
            to_state="APPROVED",
            actor="sec",
            role="approver",
            action="waive",
            waiver=Waiver(by="sec", reason="trial", expires_at=T0 - timedelta(days=1), rules_json="[]"),
        ),
    )
    [view] = await Inventory(store, load_publishers()).revisions()
    assert (view.review_state, view.review_id) == ("QUARANTINED", review.id)
    assert not view.approved  # the licence was waived for a day that has passed


async def test_decisions_wait_in_memory_until_the_database_takes_them(tmp_path: Path) -> None:
    # The database's directory does not exist yet: every write fails as an outage would.
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'later' / 'meta.db'}")
    try:
        store = InventoryStore(database)
        recorder = InventoryRecorder(store, ENGINE.licences)
        decision = ENGINE.decide_licence(LINEAGE)
        recorder.revision_decided(REPO, COMMIT, card=CARD, lineage=LINEAGE, decision=decision)
        await recorder.write_decisions()  # logged, kept for the next round

        (tmp_path / "later").mkdir()
        await migrate.upgrade(database)
        await recorder.write_decisions()
        await recorder.served([_event("model.safetensors")])
        [view] = await Inventory(store, load_publishers()).revisions()
        assert (view.licence_bucket, view.licence_verdict) == ("non-commercial", "deny")
    finally:
        await database.close()


async def test_origins_are_recorded_with_the_decision_and_read_back(
    database: Database, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[origins]\nmode = "audit"\nreview = ["country:CN"]\n')
    engine = PolicyEngine(load_policy(policy))
    store = InventoryStore(database)
    recorder = InventoryRecorder(store, engine.licences)
    nodes = (
        OriginNode(
            repo_id="us-startup/ft",
            path="us-startup/ft",
            depth=0,
            is_root=False,
            namespace="us-startup",
            organisation="unknown",
            country="unknown",
            family="unknown",
            relation="adapter",
        ),
        OriginNode(
            repo_id="Qwen/Qwen2-7B",
            path="us-startup/ft <- Qwen/Qwen2-7B",
            depth=1,
            is_root=True,
            namespace="Qwen",
            organisation="Alibaba Cloud (Qwen team)",
            country="CN",
            family="Qwen",
            entities=(EntityMark(list="watch", name="Alibaba"),),
        ),
    )
    origins = engine.decide_origins(nodes)
    licence = engine.decide_licence(LINEAGE[:1])
    recorder.revision_decided(
        REPO,
        COMMIT,
        card=CARD,
        lineage=LINEAGE[:1],
        decision=licence,
        origins=nodes,
        origin_decision=origins,
        policy_version=engine.revision_version("facts"),
    )
    await recorder.write_decisions()
    await recorder.served([_event("model.safetensors")])
    [view] = await Inventory(store, load_publishers()).revisions()
    assert view.policy_version == engine.revision_version("facts")
    assert view.origins is not None
    assert view.origins.verdict == "allow"  # audit mode: what would have happened is a finding
    [finding] = view.origins.findings
    assert (finding["rule_id"], finding["verdict"], finding["audit_only"]) == (
        "origins.country:CN",
        "review",
        True,
    )
    assert [(root.repo_id, root.country, root.family) for root in view.origins.roots] == [
        ("Qwen/Qwen2-7B", "CN", "Qwen")
    ]
    shown = view.to_dict()["origins"]
    assert shown["recorded"] is True
    assert shown["complete"] is True
    assert shown["lineage"][0]["relation"] == "adapter"
    assert shown["roots"][0]["path"] == "us-startup/ft <- Qwen/Qwen2-7B"
    assert shown["roots"][0]["entities"] == [{"list": "watch", "name": "Alibaba"}]
