"""Which files of a commit are ONNX external tensor data, as the commit's own graphs declare.

An ONNX model may keep its weights in another file (`model.onnx_data`) that its graph names by `location`,
with an (offset, length) per tensor. Those bytes have no format of their own: judged alone they are an
unrecognised binary, which the gate quarantines. Judged as what the graph says they are (scanners'
`OnnxExternalData`), they pass when nothing in them is something a loader would execute.

That meaning comes from the commit, not from the file's name, so it is its own interpretation,
`onnx-data`: a verdict reached under it covers a path only where a graph of that path's commit declares
the path; the same bytes under an undeclared name are judged again as what they are there (bypass 1 of
issue #11 stays closed). A graph counts only once hubgate has judged it servable.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Awaitable, Callable
from typing import Protocol

from cachetools import LRUCache

from mirror.blobs.fetch_request import FetchRequest
from mirror.errors import MirrorError
from mirror.hub.catalog import Catalog
from scanners import OnnxExternalData
from scanners.onnx import EXTERNAL_DATA_KEY
from storage.records import BlobRecord, ReviewRecord
from storage.review_store import ReviewStore

log = logging.getLogger(__name__)
ONNX_DATA = "onnx-data"


class Judged(Protocol):
    """A stored file and its verdict (the pipeline's Stored)."""

    @property
    def blob(self) -> BlobRecord: ...
    @property
    def review(self) -> ReviewRecord: ...


EnsureGraph = Callable[[FetchRequest], Awaitable[Judged]]


def _location(graph_path: str, data_path: str) -> str | None:
    """How a graph at `graph_path` names `data_path` (relative to the graph's folder), or None."""
    relative = posixpath.relpath(data_path, posixpath.dirname(graph_path) or ".")
    return None if relative.startswith("..") else relative


class ExternalDataDeclarations:
    def __init__(self, *, catalog: Catalog, reviews: ReviewStore) -> None:
        self._catalog = catalog
        self._reviews = reviews
        self._ensure: EnsureGraph | None = None
        self._known: LRUCache[tuple[str, str, str], OnnxExternalData] = LRUCache(maxsize=20_000)

    def use(self, ensure: EnsureGraph) -> None:
        """How graphs are fetched and judged (the pipeline, which is built after the gate that uses this)."""
        self._ensure = ensure

    async def declared(self, request: FetchRequest) -> OnnxExternalData | None:
        """The declaration of `request`'s path as tensor data by a servable graph of its commit, or None."""
        key = (str(request.repo), request.commit, request.entry.path)
        known = self._known.get(key)
        if known is not None:
            return known
        # "Not declared" is not remembered: a graph refused today may be waived tomorrow.
        found = await self._find(request)
        if found is not None:
            self._known[key] = found
        return found

    async def _find(self, request: FetchRequest) -> OnnxExternalData | None:
        if self._ensure is None:  # pragma: no cover - wired at startup
            return None
        try:
            entries = await self._catalog.list_files(request.repo, request.commit, request.credentials)
        except MirrorError as exc:
            log.info("no external-data declarations for %s: %s", request.entry.path, exc.message)
            return None
        for graph in entries:
            location = _location(graph.path, request.entry.path)
            is_graph = graph.path.lower().endswith(".onnx") and graph.path != request.entry.path
            if not is_graph or location is None:
                continue
            try:
                stored = await self._ensure(
                    FetchRequest(
                        repo=request.repo, commit=request.commit, entry=graph, credentials=request.credentials
                    )
                )
            except MirrorError as exc:
                log.info("graph %s not judged for %s: %s", graph.path, request.entry.path, exc.message)
                continue
            if stored.review.state != "APPROVED":
                continue
            for report in await self._reviews.reports(stored.blob.sha256):
                metadata = json.loads(report.report_json).get("metadata", {})
                references = metadata.get(EXTERNAL_DATA_KEY, ())
                declared = OnnxExternalData.from_references(references, graph.path, location)
                if declared is not None:
                    return declared
        return None
