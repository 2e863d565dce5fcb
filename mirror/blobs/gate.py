"""The gate: scan a verified file, let policy decide, and record the verdict with its reports."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from mirror.blobs.external_data import ONNX_DATA, ExternalDataDeclarations
from mirror.blobs.fetch_request import FetchRequest
from mirror.blobs.scanning import ScanRunner
from mirror.blobs.spool import Digests
from mirror.hub.catalog import Catalog
from mirror.metrics import Metrics
from mirror.policy.engine import Decision, FileFacts, PolicyEngine, Verdict
from mirror.review.service import ReviewService, Subject
from scanners import OnnxExternalData, ScanReport, ScanStatus, interpretation, representative_name
from storage.records import BlobRecord, ReviewRecord, StoredReport

log = logging.getLogger(__name__)
# Meanings under which unrecognised bytes may turn out to be declared ONNX tensor data.
_DECLARABLE = frozenset({"any", "raw-data"})


@dataclass(frozen=True, slots=True)
class Assessment:
    decision: Decision
    report_rows: tuple[StoredReport, ...]
    report_digest: str
    interpretations: str  # comma-separated: every meaning the bytes were judged under
    meaning: str  # what the request's own path makes of them (its interpretation, or `onnx-data`)


def _write_sparse(path: Path, header: bytes, size: int) -> None:
    with path.open("wb") as handle:
        handle.write(header)
        handle.truncate(size)


def _copy_range(source: Path, offset: int, length: int, target: Path) -> None:
    with source.open("rb") as reader, target.open("wb") as writer:
        reader.seek(offset)
        while length > 0:
            chunk = reader.read(min(length, 1 << 20))
            if not chunk:
                raise OSError(f"{source.name} ends before byte {offset + length}")
            writer.write(chunk)
            length -= len(chunk)


class Gate:
    def __init__(
        self,
        *,
        runner: ScanRunner,
        policy: PolicyEngine,
        reviews: ReviewService,
        catalog: Catalog,
        metrics: Metrics,
        declarations: ExternalDataDeclarations,
    ) -> None:
        self._declarations = declarations
        self._metrics = metrics
        self.runner = runner
        self.policy = policy
        self.reviews = reviews
        self._catalog = catalog

    @staticmethod
    def facts_before_fetch(request: FetchRequest) -> FileFacts:
        return FileFacts(repo=request.repo, path=request.entry.path, size=request.entry.size)

    async def assess(
        self,
        request: FetchRequest,
        spooled: Path,
        digests: Digests,
        *,
        interpretations: Iterable[str] = (),
    ) -> Assessment:
        """Scan a verified file in the process pool and let policy decide; stores nothing.

        The bytes are judged under the meaning the request's path has and under every one in
        `interpretations` (those an earlier verdict on the same blob covered): the worst of them decides.
        A path whose bytes are unrecognised but which an ONNX graph of its commit declares as tensor data
        is judged as that data (meaning `onnx-data`, see mirror.blobs.external_data).
        """
        entry = request.entry
        status = await self._catalog.security_status(
            request.repo, request.commit, entry.path, request.credentials
        )
        facts = FileFacts(repo=request.repo, path=entry.path, size=digests.size, hub_security=status)
        own = interpretation(entry.path)
        scanned: dict[str, tuple[ScanReport, ...]] = {own: await self._scan(spooled, entry.path)}
        if own in _DECLARABLE and scanned[own][0].status is ScanStatus.UNSUPPORTED:
            declared = await self._declarations.declared(request)
            if declared is not None:
                del scanned[own]
                own = ONNX_DATA
                scanned[own] = await self._scan(spooled, entry.path, external_data=declared)
        for other in interpretations:
            # `onnx-data` is judged only where a graph declares the path; an earlier verdict under it stands.
            if other not in scanned and other != ONNX_DATA:
                scanned[other] = await self._scan(spooled, representative_name(other))
        rows: list[StoredReport] = []
        reports: list[ScanReport] = []
        for meaning, found in sorted(scanned.items()):
            for report in found:
                reports.append(report)
                rows.append(
                    StoredReport(
                        scanner=report.scanner,
                        scanner_version=self.runner.version,
                        status=report.status.value,
                        format=report.format,
                        report_json=json.dumps({**report.to_dict(), "interpretation": meaning}),
                    )
                )
        decision = self.policy.decide_file(facts, reports)
        digest = hashlib.sha256("\n".join(row.report_json for row in rows).encode()).hexdigest()
        return Assessment(
            decision=decision,
            report_rows=tuple(rows),
            report_digest=digest,
            interpretations=",".join(sorted(set(scanned) | set(interpretations))),
            meaning=own,
        )

    async def declares_tensor_data(self, request: FetchRequest) -> bool:
        """Whether a servable ONNX graph of the request's commit declares its path as tensor data."""
        return await self._declarations.declared(request) is not None

    async def _scan(
        self, spooled: Path, name: str, *, external_data: OnnxExternalData | None = None
    ) -> tuple[ScanReport, ...]:
        reports = await self.runner.scan(spooled, name_hint=name, external_data=external_data)
        for report in reports:
            self._metrics.scan_seconds.labels(report.scanner).observe(report.duration_s)
            self._metrics.verdicts.labels(report.scanner, report.status.value).inc()
        return reports

    async def header_allows_streaming(
        self, request: FetchRequest, header: bytes, size: int, scratch: Path
    ) -> bool:
        """Whether a safetensors file may stream to clients before it is complete.

        `header` is the file's first 8 + N bytes. They are scanned as a sparse file of the full size, so
        the header checks (offsets, coverage of the data section, metadata) see the real layout.
        """
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, _write_sparse, scratch, header, size)
        try:
            reports = await self.runner.scan(scratch, name_hint=request.entry.path)
        finally:
            await loop.run_in_executor(None, partial(scratch.unlink, missing_ok=True))
        if not reports or reports[0].format != "safetensors":
            return False
        facts = FileFacts(repo=request.repo, path=request.entry.path, size=size)
        return self.policy.decide_file(facts, reports).verdict is Verdict.ALLOW

    async def pickle_entry_allows_streaming(
        self, request: FetchRequest, spooled: Path, *, entry: str, offset: int, length: int, scratch: Path
    ) -> bool:
        """Whether a PyTorch zip checkpoint may stream past its pickle entry `entry` (`length` bytes at
        `offset` of the file still downloading to `spooled`).

        The entry is scanned on its own, as the file's own scan reads it, and decided as what the file is
        (a pytorch-zip, so format rules apply as they will to the whole file): anything but a clean
        pickle the policy allows stops the stream. Raises ScanPending when the scanners are busy.
        """
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, _copy_range, spooled, offset, length, scratch)
            reports = await self.runner.scan(scratch, name_hint=f"{request.entry.path}!{entry}")
        finally:
            await loop.run_in_executor(None, partial(scratch.unlink, missing_ok=True))
        if not reports or reports[0].format != "pickle":
            return False
        as_checkpoint = (replace(reports[0], format="pytorch-zip"), *reports[1:])
        facts = FileFacts(repo=request.repo, path=request.entry.path, size=request.entry.size)
        return self.policy.decide_file(facts, as_checkpoint).verdict is Verdict.ALLOW

    async def record(self, request: FetchRequest, digests: Digests, assessment: Assessment) -> ReviewRecord:
        """Commit blob, reports, review and audit event in one transaction."""
        entry = request.entry
        subject = Subject(
            kind="blob",
            key=digests.sha256,
            repo_type=request.repo.repo_type.value,
            repo_id=request.repo.repo_id,
            commit=request.commit,
            path=entry.path,
            size=digests.size,
            interpretations=assessment.interpretations,
        )
        review = await self.reviews.record_decision(
            subject,
            assessment.decision,
            scanner_version=self.runner.version,
            reports=assessment.report_rows,
            report_digest=assessment.report_digest,
            blob=BlobRecord(sha256=digests.sha256, size=digests.size, git_sha1=digests.git_sha1),
        )
        self._metrics.decisions.labels(review.state).inc()
        log.info(
            "%s@%s %s: %s (%s)",
            request.repo,
            request.commit,
            entry.path,
            review.state,
            assessment.decision.summary(),
        )
        return review

    async def widen(
        self, request: FetchRequest, review: ReviewRecord, assessment: Assessment
    ) -> ReviewRecord:
        """Record that a stored blob's verdict now covers the request path's interpretation too."""
        widened = await self.reviews.widen(
            review,
            assessment.decision,
            interpretations=assessment.interpretations,
            added=f"{assessment.meaning} ({request.repo}@{request.commit[:12]} {request.entry.path})",
            scanner_version=self.runner.version,
            reports=assessment.report_rows,
        )
        log.info("%s %s: verdict widened to %s: %s", request.repo, request.entry.path,
                 assessment.interpretations, widened.state)  # fmt: skip
        return widened


def covered_interpretations(review: ReviewRecord) -> frozenset[str]:
    """The interpretations a blob's verdict holds for (older reviews: their first path's)."""
    if review.interpretations:
        return frozenset(review.interpretations.split(","))
    return frozenset({interpretation(review.path)})
