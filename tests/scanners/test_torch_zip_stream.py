"""The incremental walk of a PyTorch zip checkpoint (scanners.torch_zip_stream) and the end-record guard
(scanners.zip_prefix): what they let flow of a file still arriving, fed a few bytes at a time."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scanners.blobs import Blob, BytesSource
from scanners.limits import DEFAULT_LIMITS
from scanners.torch_zip_stream import (
    EntryKind,
    TorchZipWalk,
    WalkState,
    starts_like_torch_zip,
)
from scanners.zip_prefix import EndRecordGuard, ReadAt, SignatureIndex
from scanners.zipread import DEFLATED, ZipDirectory, read_directory
from tests.e2e.payloads import plain_state_pickle
from tests.torch_zips import TorchZip, checkpoint, embedded_archive, noise

PKL = plain_state_pickle()


def _read(data: bytes) -> ReadAt:
    return lambda offset, length: data[offset : offset + length]


def _walk(
    data: bytes, *, step: int = 1 << 16, passes: bool = True, max_pickle_bytes: int = 16 << 20
) -> Iterator[tuple[int, TorchZipWalk]]:
    """Feed `data` to a walk `step` bytes at a time (pickles pass when `passes`); yields (available,
    walk) after every advance."""
    walk = TorchZipWalk(len(data), max_pickle_bytes=max_pickle_bytes)
    available = 0
    while not walk.settled:
        if walk.state is WalkState.PICKLE:
            if not passes:
                return
            walk.pickle_passed()
        else:
            available = min(len(data), max(available + step, walk.wanted))
        walk.advance(_read(data), available)
        assert walk.releasable <= available
        yield available, walk


def _final(data: bytes, *, step: int = 1 << 16, max_pickle_bytes: int = 16 << 20) -> TorchZipWalk:
    walk = None
    for _, walk in _walk(data, step=step, max_pickle_bytes=max_pickle_bytes):  # noqa: B007
        pass
    assert walk is not None
    return walk


def _directory(data: bytes) -> ZipDirectory:
    return read_directory(Blob(BytesSource(data), 0, len(data), "x"), DEFAULT_LIMITS)


def _saved(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


# --- torch.save's own output --------------------------------------------------------------------------


def test_a_real_checkpoint_is_walked_entry_by_entry_and_agrees_with_its_directory() -> None:
    data = _saved({"w": torch.arange(600_000, dtype=torch.float32), "b": torch.ones(7)})
    walk = _final(data, step=4096)
    assert walk.state is WalkState.ENDED
    listed = _directory(data)
    assert [e.name for e in walk.entries] == [m.name for m in listed.members]
    assert [e.size for e in walk.entries] == [m.compressed_size for m in listed.members]
    assert walk.entries[0].kind is EntryKind.PICKLE
    assert {e.kind for e in walk.entries[1:]} == {EntryKind.STORAGE, EntryKind.RECORD}
    assert walk.central_offset == listed.central_offset
    assert walk.releasable == listed.central_offset  # everything before the directory, nothing of it
    assert walk.disagreement(listed) is None


def test_nothing_flows_before_the_first_pickle_passed_and_storages_flow_as_they_arrive() -> None:
    data = _saved({"w": torch.arange(600_000, dtype=torch.float32)})
    pickle_end = None
    for available, walk in _walk(data, step=4096, passes=False):
        assert walk.releasable == 0
        pickle_end = available
    assert pickle_end is not None
    assert pickle_end < 4096 * 2
    flowing = [(available, walk.releasable) for available, walk in _walk(data, step=65536) if walk.entries]
    storage = _directory(data).members[4]
    assert storage.name.endswith("data/0")
    inside = [
        (a, r) for a, r in flowing if storage.data_offset < a < storage.data_offset + storage.compressed_size
    ]
    assert inside
    assert all(a - 3 <= r <= a for a, r in inside)


# --- what the walk will not judge ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        pickle.dumps({"a": 1}, protocol=2),  # a raw pickle
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001),  # the legacy torch format
        pickle.dumps({"a": 1}, protocol=2) + checkpoint(PKL, [b"x"]).build().data,  # a polyglot
        b"\x00" * 8,
    ],
)
def test_only_a_local_header_at_offset_zero_starts_a_streamed_checkpoint(head: bytes) -> None:
    assert not starts_like_torch_zip(head)
    walk = _final(head + bytes(64))
    assert walk.state is WalkState.STOPPED
    assert not walk.first_pickle_passed
    assert walk.releasable == 0


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (TorchZip().add("archive/data/0", b"x" * 100).add("archive/data.pkl", PKL), "not an entry"),
        (TorchZip().add("data.pkl", PKL), "not an entry"),
        (TorchZip().add("a/b/data.pkl", PKL), "not an entry"),
        (TorchZip(methods={"archive/data.pkl": DEFLATED}).add("archive/data.pkl", PKL), "compressed"),
    ],
)
def test_a_first_entry_torch_save_would_not_write_stops_the_walk_at_once(
    archive: TorchZip, reason: str
) -> None:
    walk = _final(archive.build().data)
    assert walk.state is WalkState.STOPPED
    assert reason in walk.reason
    assert walk.releasable == 0
    assert not walk.first_pickle_passed


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (("archive/code/__torch__/model.py", b"import os\n"), "not an entry"),
        (("other/data/9", b"x" * 10), "not an entry"),
        (("archive/data/9x", b"x" * 10), "not an entry"),
    ],
)
def test_an_entry_torch_save_does_not_write_holds_back_everything_from_its_header(
    extra: tuple[str, bytes], reason: str
) -> None:
    written = checkpoint(PKL, [noise(50_000, seed=1)], after=[extra]).build()
    walk = _final(written.data)
    assert walk.state is WalkState.STOPPED
    assert reason in walk.reason
    assert walk.releasable == written.headers[extra[0]]
    assert walk.disagreement(_directory(written.data)) is None  # what was walked agrees


def test_a_compressed_storage_stops_the_walk_at_its_header() -> None:
    written = checkpoint(PKL, [noise(5000, seed=1)], methods={"archive/data/0": DEFLATED}).build()
    walk = _final(written.data)
    assert "compressed" in walk.reason
    assert walk.releasable == written.headers["archive/data/0"]


# --- pickles wherever they are ------------------------------------------------------------------------


def test_a_pickle_entry_after_the_storages_holds_back_every_byte_from_its_header_until_it_passed() -> None:
    written = checkpoint(
        PKL,
        [noise(300_000, seed=1)],
        after=[("archive/extra.pkl", PKL), ("archive/data/1", noise(300_000, seed=2))],
    ).build()
    extra = written.headers["archive/extra.pkl"]
    scanned = []
    walk = TorchZipWalk(len(written.data))
    available = 0
    while not walk.settled:
        if walk.state is WalkState.PICKLE:
            assert walk.pending is not None
            if walk.pending.name == "archive/extra.pkl":  # scanned only once all of it is on disk
                assert available >= written.data_offsets["archive/extra.pkl"] + len(PKL)
            scanned.append(walk.pending.name)
            walk.pickle_passed()
        else:
            available = min(len(written.data), max(available + 4096, walk.wanted))
        walk.advance(_read(written.data), available)
        if "archive/extra.pkl" not in scanned:
            assert walk.releasable <= extra
    assert scanned == ["archive/data.pkl", "archive/extra.pkl"]
    assert walk.releasable == walk.central_offset
    assert walk.state is WalkState.ENDED
    assert walk.disagreement(_directory(written.data)) is None


def test_a_pickle_entry_larger_than_the_limit_stops_the_walk_before_it() -> None:
    written = checkpoint(PKL, [noise(1000, seed=1)], after=[("archive/big.pkl", PKL + bytes(10_000))]).build()
    walk = _final(written.data, max_pickle_bytes=4096)
    assert walk.state is WalkState.STOPPED
    assert "no data descriptor within 4096" in walk.reason
    assert walk.releasable == written.headers["archive/big.pkl"]


# --- sizes, descriptors, zip64 ------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{"descriptors": False}, {"long_descriptors": True}, {}])
def test_sizes_in_the_header_or_in_short_or_zip64_descriptors(options: dict[str, bool]) -> None:
    written = checkpoint(PKL, [noise(70_000, seed=1), noise(10, seed=2)], **options).build()  # type: ignore[arg-type]
    walk = _final(written.data, step=1000)
    assert walk.state is WalkState.ENDED
    assert [e.size for e in walk.entries][4:6] == [70_000, 10]
    assert walk.disagreement(_directory(written.data)) is None


def test_zip64_sizes_in_a_local_header_extra_field() -> None:
    name = b"archive/data.pkl"
    zip64 = struct.pack("<2H2Q", 1, 16, len(PKL), len(PKL))  # uncompressed, then compressed size
    header = b"PK\x03\x04" + struct.pack(
        "<5H3I2H", 45, 0x800, 0, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(zip64)
    )
    data = header + name + zip64 + PKL + b"PK\x03\x04" + bytes(100)
    walk = TorchZipWalk(len(data))
    walk.advance(_read(data), len(data))
    assert walk.state is WalkState.PICKLE
    assert walk.pending is not None
    assert walk.pending.size == len(PKL)


def test_a_storage_without_a_descriptor_flows_but_is_never_taken_for_finished() -> None:
    written = checkpoint(PKL, [noise(100_000, seed=1)]).build()
    data = bytearray(written.data)
    after_storage = written.data_offsets["archive/data/0"] + 100_000
    data[after_storage : after_storage + 4] = b"XXXX"  # the descriptor's signature is gone
    end_record = data.rfind(b"PK\x05\x06")
    walk = TorchZipWalk(len(data))
    available = 0
    while not walk.settled:  # the last step stops short of the end: the storage seems to run on
        if walk.state is WalkState.PICKLE:
            walk.pickle_passed()
        else:
            available = min(len(data) - 10, available + 8192) if available < len(data) - 10 else len(data)
        walk.advance(_read(bytes(data)), available)
        # Whatever the storage claims, the end record never flows: it would open the prefix as a zip.
        assert walk.releasable <= end_record
    assert walk.state is WalkState.STOPPED
    assert "no data descriptor" in walk.reason
    assert walk.releasable == end_record
    assert "inside walked bytes" in (walk.disagreement(_directory(bytes(data))) or "")


# --- two views of one archive -------------------------------------------------------------------------


def test_a_local_entry_the_directory_does_not_list_is_a_disagreement() -> None:
    written = checkpoint(
        PKL, [noise(1000, seed=1)], after=[("archive/data/7", PKL)], unlisted=frozenset({"archive/data/7"})
    ).build()
    walk = _final(written.data)
    assert walk.state is WalkState.ENDED
    assert "members listed" in (walk.disagreement(_directory(written.data)) or "")


def test_a_directory_that_renames_an_entry_is_a_disagreement() -> None:
    written = checkpoint(PKL, [noise(1000, seed=1)], renamed={"archive/data/0": "archive/data.pkl"}).build()
    walk = _final(written.data)
    assert "names 'archive/data/0'" in (walk.disagreement(_directory(written.data)) or "")


def test_a_fake_descriptor_inside_a_storage_leads_to_a_disagreement() -> None:
    # Inside data/0: a descriptor that fits the bytes so far, then a local header for a pickle the
    # directory never lists. The walk follows it (and would scan the pickle); the directory disagrees.
    probe = checkpoint(PKL, [bytes(200_000)]).build()
    start = probe.data_offsets["archive/data/0"]
    forged = b"PK\x07\x08" + struct.pack("<3I", 0, 1000, 1000)
    fake_header = (
        b"PK\x03\x04" + struct.pack("<5H3I2H", 20, 0x800, 0, 0, 0, 0, 10, 10, 14, 0) + b"archive/data/5"
    )
    storage = bytearray(noise(200_000, seed=4))
    storage[1000 : 1000 + len(forged) + len(fake_header) + 10] = forged + fake_header + b"0123456789"
    written = checkpoint(PKL, [bytes(storage)]).build()
    assert written.data_offsets["archive/data/0"] == start
    walk = _final(written.data)
    assert [e.size for e in walk.entries if e.name == "archive/data/0"] == [1000]
    assert walk.disagreement(_directory(written.data)) is not None


def test_a_directory_whose_offsets_do_not_count_from_the_first_byte_is_a_disagreement() -> None:
    written = checkpoint(PKL, [noise(1000, seed=1)]).build()
    walk = _final(written.data)
    assert walk.disagreement(_directory(written.data)) is None
    shifted = replace(_directory(written.data), prepended=64)  # how zipfile reads a polyglot's directory
    assert "first byte" in (walk.disagreement(shifted) or "")


# --- end records inside the bytes that flow -----------------------------------------------------------


def _with_embedded(size: int, at_fraction: float) -> tuple[bytes, int]:
    """A checkpoint whose one storage holds a whole malicious-looking archive; returns the file and the
    offset of that archive's end record."""
    probe = checkpoint(PKL, [bytes(size)]).build()
    start = probe.data_offsets["archive/data/0"]
    at = start + int(size * at_fraction)
    blob, end = embedded_archive(PKL, at=at)
    storage = bytearray(noise(size, seed=5))
    storage[at - start : at - start + len(blob)] = blob
    return checkpoint(PKL, [bytes(storage)]).build().data, at + end


def test_an_end_record_naming_a_directory_inside_a_storage_stops_the_release_before_it() -> None:
    data, end_record = _with_embedded(400_000, 0.5)
    assert zipfile.ZipFile(io.BytesIO(data[: end_record + 22])).namelist() == [
        "evil/data.pkl",
        "evil/version",
    ]
    walk = _final(data, step=8192)
    assert walk.guard.blocked_at == end_record
    assert walk.releasable == end_record


def test_end_record_signatures_that_name_nothing_do_not_stop_the_release() -> None:
    storage = bytearray(noise(100_000, seed=6))
    for at in (10_000, 50_000, 99_990):  # garbage after each; the last one is cut by the storage's end
        storage[at : at + 4] = b"PK\x05\x06"
    written = checkpoint(PKL, [bytes(storage)]).build()
    walk = _final(written.data, step=4096)
    assert walk.state is WalkState.ENDED
    assert walk.guard.blocked_at is None
    assert walk.releasable == walk.central_offset


def test_an_end_record_after_a_zip64_locator_stops_the_release() -> None:
    storage = bytearray(noise(100_000, seed=7))
    storage[50_000 : 50_000 + 24] = b"PK\x06\x07" + bytes(16) + b"PK\x05\x06"
    written = checkpoint(PKL, [bytes(storage)]).build()
    walk = _final(written.data)
    assert walk.releasable == written.data_offsets["archive/data/0"] + 50_020


def _guarded(data: bytes, upto: int, available: int, guard: EndRecordGuard | None = None) -> EndRecordGuard:
    guard = guard or EndRecordGuard(len(data))
    index = SignatureIndex()
    index.extend(_read(data), available)
    guard.advance(index, _read(data), upto, available)
    return guard


def test_the_guard_waits_for_the_bytes_an_end_record_points_at() -> None:
    data = bytearray(noise(10_000, seed=8))
    record = b"PK\x05\x06" + struct.pack("<4H2IH", 0, 0, 1, 1, 46, 9000, 0)
    data[100 : 100 + 22] = record
    guard = _guarded(bytes(data), 5000, 5000)
    assert (guard.clear, guard.wanted, guard.blocked_at) == (100, 9004, None)
    _guarded(bytes(data), 10_000, 10_000, guard)
    assert guard.blocked_at is None
    assert guard.clear > 9000  # no directory at 9000: inert
    data[9000:9004] = b"PK\x01\x02"
    assert _guarded(bytes(data), 10_000, 10_000).blocked_at == 100


def test_a_file_full_of_signatures_stops_the_release_where_the_index_gives_up() -> None:
    # Each signature is looked at: a file built of them would make the walk crawl, so past a limit the
    # rest of the file waits for its full scan.
    written = checkpoint(PKL, [b"PK\x07\x08" * 100_000]).build()
    walk = TorchZipWalk(len(written.data))
    walk.index = SignatureIndex(limit=1000)
    available = 0
    while not walk.settled:
        if walk.state is WalkState.PICKLE:
            walk.pickle_passed()
        else:
            available = min(len(written.data), max(available + 65536, walk.wanted))
        walk.advance(_read(written.data), available)
    assert walk.state is WalkState.STOPPED
    assert "zip signatures" in walk.reason
    assert walk.releasable <= walk.index.frontier < written.data_offsets["archive/data/0"] + 4 * 1001


@settings(max_examples=60, deadline=None)
@given(
    fraction=st.floats(min_value=0.0, max_value=0.95),
    step=st.integers(min_value=500, max_value=50_000),
    cut=st.integers(min_value=0, max_value=10_000),
)
def test_no_prefix_a_reader_may_hold_opens_as_an_archive_with_members(
    fraction: float, step: int, cut: int
) -> None:
    # Whatever the walk releases at any moment, and any shorter prefix (the client was cut anywhere):
    # zipfile finds no member in it (torch.load and numpy.load open zips the same way).
    data, _ = _with_embedded(60_000, fraction)
    for _available, walk in _walk(data, step=step):
        prefix = data[: max(0, walk.releasable - cut)]
        try:
            names = zipfile.ZipFile(io.BytesIO(prefix)).namelist()
        except zipfile.BadZipFile:
            names = []
        assert names == [], (walk.releasable, cut)
