"""A PyTorch zip checkpoint streamed while it downloads: the async side of scanners.torch_zip_stream.

As the spool file grows, the walk (in an executor, off the event loop) reads the local headers; each
pickle entry is scanned in the scanner pool as soon as its bytes are on disk, and only then may bytes
beyond it flow; tensor storages flow as they arrive. The file streams at all only if it starts as
torch.save starts it (a local header for `<root>/data.pkl`) and that first pickle passed. At the end the
walk's view of the local headers is compared with the central directory a loader reads: if they differ,
or any pickle entry failed, readers are cut, whatever the full scan says (it stays the authority on the
file's verdict). The last MiB, the central directory and the end record are never handed out before the
file is verified and approved (LiveFile holds the tail back, the walk stops where the directory begins),
nor is any end record that could open a prefix of the file as a zip (scanners.zip_prefix).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from mirror.blobs.fetch_request import FetchRequest
from mirror.blobs.gate import Gate
from mirror.blobs.live import LiveFile
from mirror.errors import ScanPending
from scanners.blobs import FileSource, file_blob
from scanners.limits import DEFAULT_LIMITS, ScanError
from scanners.torch_zip_stream import TorchZipWalk, WalkState
from scanners.zipread import read_directory

log = logging.getLogger(__name__)


async def judge_torch_zip(gate: Gate, request: FetchRequest, spooled: Path, live: LiveFile) -> bool:
    """Clear the checkpoint's bytes for `live`'s readers as the walk judges them.

    Returns the judge's last word (see LiveFile.judged): True when the file streamed and its local
    headers agree with its central directory, or when it never streamed (no reader was let in).
    """
    judge = _CheckpointJudge(gate, request, spooled, live)
    try:
        return await judge.run()
    except Exception as exc:  # the judge's catch-all: a failure of the walk itself stops the stream
        if live.outcome.done():
            return False  # the download ended (its spool file is gone): the pipeline cut the readers
        log.exception("%s: streaming the checkpoint failed", request.entry.path)
        judge.stop(f"the checkpoint could not be judged while streaming: {exc}")
        return False


class _CheckpointJudge:
    def __init__(self, gate: Gate, request: FetchRequest, spooled: Path, live: LiveFile) -> None:
        self._gate = gate
        self._request = request
        self._spooled = spooled
        self._live = live
        self._walk = TorchZipWalk(live.size)
        self._scratch = spooled.with_name(spooled.name + ".pickle")

    async def run(self) -> bool:
        walk, live = self._walk, self._live
        loop = asyncio.get_running_loop()
        while not walk.settled:
            if walk.state is WalkState.PICKLE:
                if not await self._judge_pickle():
                    return not walk.first_pickle_passed  # refused before the first pickle: no readers
            elif not await live.wait_available(walk.wanted):
                return False  # the download failed: the pipeline cuts the readers
            await loop.run_in_executor(None, _advance, walk, self._spooled, live.available)
            live.clear(walk.releasable)
            if walk.first_pickle_passed and not live.header_verdict:
                live.header_checked(True)  # data.pkl passed: from here on readers stream
            if walk.state is WalkState.STOPPED and not walk.first_pickle_passed:
                break
        if not walk.first_pickle_passed:
            live.header_checked(False)  # not shaped as torch.save writes: fetch, scan, then serve
            return True
        if walk.state is WalkState.STOPPED:
            log.info(
                "%s: streamed up to byte %d (%s)", self._request.entry.path, walk.releasable, walk.reason
            )
        if not await live.wait_available(live.size):
            return False
        disagreement = await loop.run_in_executor(None, _disagreement, walk, self._spooled)
        if disagreement is not None:
            self.stop(f"its local headers and its central directory disagree: {disagreement}")
            log.warning("%s: cut readers: %s", self._request.entry.path, live.refused)
            return False
        return True

    async def _judge_pickle(self) -> bool:
        """Scan the pending pickle entry; False once the stream has to end (the entry failed)."""
        entry = self._walk.pending
        assert entry is not None
        try:
            allowed = await self._gate.pickle_entry_allows_streaming(
                self._request,
                self._spooled,
                entry=entry.name,
                offset=entry.data_offset,
                length=entry.size,
                scratch=self._scratch,
            )
        except ScanPending:
            self._walk.stop("the scanners were busy")  # the rest waits for the whole file and its scan
            return True
        if allowed:
            self._walk.pickle_passed()
            return True
        self.stop(f"its pickle entry {entry.name!r} did not pass the scan")
        return False

    def stop(self, reason: str) -> None:
        """Stream no further: readers already in are cut; before the first pickle passed, none get in."""
        self._walk.stop(reason)
        if self._walk.first_pickle_passed:
            self._live.refuse(reason)
        else:
            self._live.header_checked(False)


def _advance(walk: TorchZipWalk, spooled: Path, available: int) -> None:
    descriptor = os.open(spooled, os.O_RDONLY)
    try:
        walk.advance(lambda offset, length: os.pread(descriptor, length, offset), available)
    finally:
        os.close(descriptor)


def _disagreement(walk: TorchZipWalk, spooled: Path) -> str | None:
    source = FileSource(spooled)
    try:
        directory = read_directory(file_blob(source, spooled.name), DEFAULT_LIMITS)
    except ScanError as exc:
        return f"the central directory cannot be read: {exc}"
    finally:
        source.close()
    return walk.disagreement(directory)
