"""A scan's decompressed bytes, scratch space and time stay bounded, and reaching a bound is a finding
(issue #11). Scratch space is measured from outside the scanner: a watcher thread sums the sizes of the
open files this process holds in a private temporary folder, whatever the scanner thinks it holds."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import pytest

from scanners import ScanStatus
from scanners.limits import DEFAULT_LIMITS, MIB, Limits
from scanners.runner import scan_primary
from tests.scanners import malicious_exhaustion as bombs


class ScratchWatcher:
    """Polls /proc/self/fd for open files under ``folder`` (unlinked temporary files included)."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _held(self) -> int:
        total = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith(self.folder):
                    total += os.stat(f"/proc/self/fd/{fd}").st_size
            except OSError:
                continue  # closed between listing and looking
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._held())
            time.sleep(0.001)

    def __enter__(self) -> ScratchWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._held())


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))  # where TemporaryFile() puts its files
    return folder


@pytest.mark.parametrize("name", sorted(bombs.BUILDERS))
def test_bomb_is_a_finding_within_bounded_scratch_and_time(name: str, tmp_path: Path, scratch: Path) -> None:
    filename, _, build = bombs.BUILDERS[name]
    path = tmp_path / filename
    build(path)
    allowed = DEFAULT_LIMITS.max_ratio * path.stat().st_size + DEFAULT_LIMITS.ratio_floor
    with ScratchWatcher(scratch) as watcher:
        report = scan_primary(path, name_hint=filename)
    assert report.status is ScanStatus.FLAGGED, report
    assert "archive.decompression-bomb" in {f.rule_id for f in report.findings}
    # Never more scratch than the scan-wide inflation budget (plus one output chunk in flight).
    assert watcher.peak <= allowed + MIB, (watcher.peak, allowed)
    assert report.duration_s < 15


def test_the_total_bound_counts_every_member_and_level(tmp_path: Path, scratch: Path) -> None:
    # No single member comes near a per-stream limit; only their sum crosses max_scan_inflated.
    path = tmp_path / "shards.zip"
    bombs.nested_zips(path)
    limits = Limits(max_scan_inflated=24 * MIB, max_ratio=1e9)
    with ScratchWatcher(scratch) as watcher:
        report = scan_primary(path, limits=limits)
    assert report.status is ScanStatus.FLAGGED
    assert any(f.evidence == "max_scan_inflated" for f in report.findings)
    assert watcher.peak <= 24 * MIB + MIB


def test_the_ratio_stops_a_stream_mid_way(tmp_path: Path, scratch: Path) -> None:
    # 60 MiB of text in one gzip stream: inflation stops once the scan-wide ratio is crossed, long
    # before the stream ends.
    path = tmp_path / "notes.txt.gz"
    bombs.BUILDERS["bomb_gzip_stream"][2](path)
    limits = Limits(ratio_floor=0, max_ratio=20)
    with ScratchWatcher(scratch) as watcher:
        report = scan_primary(path, limits=limits)
    assert any(f.evidence == "max_ratio" for f in report.findings)
    assert watcher.peak <= 20 * path.stat().st_size + MIB


def test_scanned_members_release_their_scratch(tmp_path: Path, scratch: Path) -> None:
    # 40 members of 1 MiB inflate within every bound; scratch holds one member at a time, not all 40.
    path = tmp_path / "notes.zip"
    path.write_bytes(bombs.text_zip(40))
    with ScratchWatcher(scratch) as watcher:
        report = scan_primary(path, limits=Limits(max_ratio=1e9))
    assert report.status is ScanStatus.CLEAN, report
    assert watcher.peak <= 2 * MIB


def test_an_lzma_header_cannot_make_the_decoder_allocate_gigabytes(tmp_path: Path) -> None:
    # Found by bench/fuzz_scanners.py: a 104-byte .lzma whose header names a 1.7 GB dictionary made
    # liblzma allocate it (through Python's allocator) before decoding a byte.
    import lzma  # noqa: PLC0415
    import struct  # noqa: PLC0415
    import tracemalloc  # noqa: PLC0415

    stream = bytearray(lzma.compress(b"weights" * 100, format=lzma.FORMAT_ALONE))
    struct.pack_into("<I", stream, 1, 0x67400000)  # the dictionary size field
    path = tmp_path / "model.lzma"
    path.write_bytes(bytes(stream))
    tracemalloc.start()
    try:
        report = scan_primary(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.status is ScanStatus.FLAGGED
    assert any(f.evidence == "max_decoder_memory" for f in report.findings)
    assert peak < DEFAULT_LIMITS.max_decoder_memory
