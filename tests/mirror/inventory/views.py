"""Hand-built inventory views for the pure report and SBOM tests (the database tests build real ones)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from mirror.inventory.publishers import load_publishers
from mirror.inventory.records import (
    NOT_REQUIRED,
    Ancestor,
    Card,
    FileView,
    Licence,
    Origins,
    RevisionView,
    Tally,
)

SERVED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PUBLISHERS = load_publishers()


def file_view(
    path: str,
    *,
    size: int = 10,
    sha256: str | None = None,
    lfs: bool = False,
    review_state: str = "APPROVED",
    review_id: int | None = 1,
    downloads: int = 0,
    sent: int = 0,
) -> FileView:
    return FileView(
        path=path,
        size=size,
        sha256=sha256,
        git_oid="1" * 40,
        lfs=lfs,
        review_state=review_state,
        review_id=review_id,
        served=Tally(downloads=downloads, bytes=sent),
    )


def revision_view(
    repo_id: str,
    *,
    commit: str = "a" * 40,
    repo_type: str = "model",
    licences: Sequence[Licence] = (Licence("apache-2.0"),),
    bucket: str = "permissive",
    verdict: str = "allow",
    lineage: Sequence[Ancestor] = (),
    card: Card | None = None,
    origins: Origins | None = None,
    files: Sequence[FileView] = (),
    by_identity: Mapping[str, Tally] | None = None,
    review_state: str = NOT_REQUIRED,
    review_id: int | None = None,
    signature: str = "unchecked",
) -> RevisionView:
    if by_identity is None:
        served = sum((view.served for view in files), Tally())
        by_identity = {"anonymous": served} if served.downloads else {}
    return RevisionView(
        repo_type=repo_type,
        repo_id=repo_id,
        commit=commit,
        publisher=PUBLISHERS.lookup(repo_id),
        licences=tuple(licences),
        licence_bucket=bucket,
        licence_verdict=verdict,
        policy_version="default@1",
        lineage=tuple(lineage),
        card=card or Card(),
        origins=origins,
        signature=signature,
        signer="",
        review_state=review_state,
        review_id=review_id,
        first_served_at=SERVED_AT,
        last_served_at=SERVED_AT,
        files=tuple(files),
        by_identity=dict(by_identity),
    )
