"""Prefetch: fetch, verify and scan a revision ahead of users, and report what was approved and why not."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mirror.blobs.fetch_request import FetchRequest
from mirror.blobs.pipeline import Pipeline
from mirror.errors import MirrorError
from mirror.hub.catalog import Catalog
from mirror.hub.models import Credentials, RepoRef
from mirror.revision.admission import Admission
from storage.records import FileEntry

log = logging.getLogger(__name__)
_CONCURRENCY = 2
_KEEP_JOBS = 200


@dataclass
class FileResult:
    path: str
    size: int
    state: str  # a review state, or ERROR when the file could not be fetched
    review_id: int | None = None
    reasons: list[dict[str, object]] = field(default_factory=list)
    error: str = ""


@dataclass
class PrefetchJob:
    id: str
    repo: RepoRef
    revision: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    started_at: str
    state: str = "running"  # running | done | failed
    commit: str = ""
    licence: str = ""  # "" when allowed, else the revision review's refusal
    total_files: int = 0
    total_bytes: int = 0
    done_files: int = 0
    done_bytes: int = 0
    error: str = ""
    files: list[FileResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        counts: dict[str, int] = {}
        for result in self.files:
            counts[result.state] = counts.get(result.state, 0) + 1
        return {
            "id": self.id,
            "repo": str(self.repo),
            "revision": self.revision,
            "commit": self.commit,
            "state": self.state,
            "started_at": self.started_at,
            "licence": self.licence,
            "total_files": self.total_files,
            "total_bytes": self.total_bytes,
            "done_files": self.done_files,
            "done_bytes": self.done_bytes,
            "counts": counts,
            "error": self.error,
            "files": [result.__dict__ for result in self.files],
        }


class Prefetcher:
    def __init__(self, *, catalog: Catalog, pipeline: Pipeline, admission: Admission) -> None:
        self._catalog = catalog
        self._pipeline = pipeline
        self._admission = admission
        self._jobs: dict[str, PrefetchJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(
        self,
        repo: RepoRef,
        revision: str,
        credentials: Credentials,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> PrefetchJob:
        job = PrefetchJob(
            id=uuid.uuid4().hex,
            repo=repo,
            revision=revision,
            include=tuple(include),
            exclude=tuple(exclude),
            started_at=datetime.now(UTC).isoformat(),
        )
        self._jobs[job.id] = job
        while len(self._jobs) > _KEEP_JOBS:
            self._jobs.pop(next(iter(self._jobs)))
        task = asyncio.ensure_future(self._run(job, credentials))
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))
        task.add_done_callback(lambda done: _record_crash(job, done))
        return job

    def get(self, job_id: str) -> PrefetchJob | None:
        return self._jobs.get(job_id)

    async def wait(self, job: PrefetchJob) -> PrefetchJob:
        """The job once it has finished (done or failed)."""
        task = self._tasks.get(job.id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        return job

    async def _run(self, job: PrefetchJob, credentials: Credentials) -> None:
        try:
            self._admission.admit_repo(job.repo)
            resolved = await self._catalog.resolve(job.repo, job.revision, credentials, reading_files=True)
            job.commit = resolved.commit
            try:
                await self._admission.admit_revision(job.repo, resolved.commit, credentials)
            except MirrorError as exc:
                job.licence = exc.message  # files are still fetched and scanned for the reviewers
            listing = await self._catalog.list_files(job.repo, job.commit, credentials)
            entries = [e for e in listing if _selected(e.path, job.include, job.exclude)]
            job.total_files = len(entries)
            job.total_bytes = sum(entry.size for entry in entries)
            limit = asyncio.Semaphore(_CONCURRENCY)
            await asyncio.gather(*(self._one(job, entry, credentials, limit) for entry in entries))
            job.files.sort(key=lambda result: result.path)
            job.state = "done"
        except MirrorError as exc:
            job.state, job.error = "failed", exc.message

    async def _one(
        self, job: PrefetchJob, entry: FileEntry, credentials: Credentials, limit: asyncio.Semaphore
    ) -> None:
        async with limit:
            request = FetchRequest(repo=job.repo, commit=job.commit, entry=entry, credentials=credentials)
            try:
                stored = await self._pipeline.ensure(request, wait_s=None)
                reasons = [r for r in json.loads(stored.review.reasons) if not r.get("audit_only")]
                job.files.append(
                    FileResult(entry.path, entry.size, stored.review.state, stored.review.id, reasons)
                )
            except MirrorError as exc:
                job.files.append(
                    FileResult(entry.path, entry.size, "ERROR", error=f"{exc.code}: {exc.message}")
                )
            job.done_files += 1
            job.done_bytes += entry.size

    async def drain(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _record_crash(job: PrefetchJob, task: asyncio.Task[None]) -> None:
    """A bug in a background job is recorded on the job (and logged), never lost with the task."""
    if task.cancelled():
        job.state, job.error = "failed", "cancelled (hubgate is shutting down)"
        return
    error = task.exception()
    if error is not None:
        log.error("prefetch %s failed", job.id, exc_info=error)
        job.state, job.error = "failed", f"{type(error).__name__}: {error}"


def _selected(path: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not any(fnmatch.fnmatchcase(path, pattern) for pattern in include):
        return False
    return not any(fnmatch.fnmatchcase(path, pattern) for pattern in exclude)
