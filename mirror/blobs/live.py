"""A file that clients may read while it downloads, as far as a judge of its format lets them.

A format judge decides from the first bytes whether the file streams at all (`header_checked`) and then
how far its bytes are judged (`clear`): a safetensors file's danger lies in its header alone, so once the
header has been scanned and allowed, every byte flows as it arrives; a PyTorch zip checkpoint flows up
to each pickle entry until that entry has been scanned (mirror.blobs.checkpoint_stream). Whatever a judge
clears, the final HOLDBACK_BYTES are held back until the whole file is verified against the Hub's digest
and approved, and the judge has had its last word (`judged`); on any failure, or once the judge refuses
the file (`refuse`), the reader raises and the handler cuts the connection, so a client never holds a
complete-looking bad file.

What a reader was handed before a failure is unverified: `handed_out` counts it, so that the pipeline
can refuse to let anyone complete such a prefix later with bytes from another download (a resume).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from mirror.errors import AccessDenied

HOLDBACK_BYTES = 1 << 20
# A window is sent whole: a failure noticed meanwhile cuts the stream at the next window at the latest.
_WINDOW = 4 << 20


class LiveFile:
    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self.available = 0
        self.handed_out = 0  # the longest prefix any reader was given (unverified until approved)
        self.header_verdict: bool | None = None  # None until the header was checked
        self.cleared = 0  # leading bytes the judge let readers have before approval
        self.refused: str | None = None  # why the judge cut readers off, whatever the file's verdict
        self.halted = False  # no further window goes out before the outcome (a failure is being recorded)
        self.judge: asyncio.Future[bool] | None = None  # the format judge: its last word (see judged)
        self.outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()  # True: servable
        self._changed = asyncio.Event()

    def progress(self, available: int) -> None:
        self.available = available
        self._signal()

    def header_checked(self, allowed: bool) -> None:
        self.header_verdict = allowed
        self._signal()

    def clear(self, length: int) -> None:
        """Readers may have the first `length` bytes before approval (never the held-back tail)."""
        limit = min(length, max(0, self.size - HOLDBACK_BYTES))
        if limit > self.cleared:
            self.cleared = limit
            self._signal()

    def refuse(self, reason: str) -> None:
        """The judge found what must not stream: readers are cut now, whatever the verdict on the file."""
        if self.refused is None:
            self.refused = reason
            self._signal()

    async def judged(self) -> bool:
        """The judge's last word: False if what it let flow must not be completed by this download.

        True without a judge (then no reader was let in). Awaited before the file is declared servable.
        """
        if self.judge is None:
            return True
        try:
            return await self.judge and self.refused is None
        except Exception:  # noqa: BLE001 - a judge that crashed said no
            return False

    def halt(self) -> None:
        """Start no further window until the outcome is known: `handed_out` is final from here on."""
        self.halted = True

    def finish(self, *, servable: bool, error: BaseException | None = None) -> None:
        if not self.outcome.done():
            if error is not None:
                self.outcome.set_exception(error)
                self.outcome.exception()  # mark retrieved: readers may be gone
            else:
                self.outcome.set_result(servable)
        self._signal()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_header(self, timeout_s: float) -> bool:
        """True once the header passed; False if it failed or the fetch ended first; else TimeoutError."""
        async with asyncio.timeout(timeout_s):
            while self.header_verdict is None and not self.outcome.done():
                await self._changed.wait()
        failed = self.outcome.done() and self.outcome.exception() is not None
        return bool(self.header_verdict) and not failed and self.refused is None

    async def wait_available(self, length: int) -> bool:
        """Wait until the first `length` bytes are on disk; False if the fetch ended first."""
        while self.available < length and not self.outcome.done():
            await self._changed.wait()
        return self.available >= length

    async def open(self) -> BinaryIO | None:
        """A handle on the spool file, which keeps its bytes readable after it is removed; None when the
        download already ended and its spool file is gone (then the store has the answer)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(None, _open_binary, self.path)
        except FileNotFoundError:
            return None

    async def windows(self, start: int, end: int) -> AsyncIterator[tuple[int, int]]:
        """Spans (offset, length) of [start, end) that may go out: as they arrive and the judge clears them
        (never the last HOLDBACK_BYTES), the rest only once the file is approved. Raises once the file
        failed or was refused: the caller sends one window (with sendfile, from its own handle) before it
        asks for the next."""
        position = start
        while position < end:
            approved = self._approved()
            limit = end if approved else min(end, self.cleared, self.available)
            if position < limit and (approved or not self.halted):
                length = min(_WINDOW, limit - position)
                position += length
                # Counted before it goes out: a client may hold any part of a window being sent.
                self.handed_out = max(self.handed_out, position)
                yield position - length, length
                continue
            waiter = self._changed
            await waiter.wait()

    def _approved(self) -> bool:
        """True once the file is approved, False while undecided; raises once it failed or was refused."""
        if self.refused is not None:
            raise AccessDenied(f"{self.path.name}: {self.refused}")
        if not self.outcome.done():
            return False
        if self.outcome.exception() is not None or not self.outcome.result():
            raise AccessDenied(f"{self.path.name}: the file failed verification or review while streaming")
        return True


def _open_binary(path: Path) -> BinaryIO:
    return path.open("rb")
