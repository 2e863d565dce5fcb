"""PyTorch zip checkpoints written byte by byte, laid out as torch.save lays them out, or, for attacks,
differently: each entry stored behind a local header with flag bit 3 (the sizes follow the data in a
data descriptor), its data aligned to 64 bytes by an `FB` padding field (as torch's writer pads), then
the central directory, a zip64 end record and locator, and the end record (torch writes all three).

Harmless if ever loaded: the only code they can carry is what a test puts in, and tests use the marker
pickle of tests/e2e/payloads.py.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

LOCAL = b"PK\x03\x04"
CENTRAL = b"PK\x01\x02"
DESCRIPTOR = b"PK\x07\x08"
END = b"PK\x05\x06"
ZIP64_END = b"PK\x06\x06"
ZIP64_LOCATOR = b"PK\x06\x07"
_FLAGS = 0x0808  # data descriptor + UTF-8 names, as torch writes them
_ALIGN = 64


def noise(size: int, *, seed: int) -> bytes:
    """Deterministic tensor-like bytes. They start with zeros, so that no scanner sniffs them as a
    format (raw storages are judged by what they look like when no pickle refers to them)."""
    head = min(size, 16)
    return bytes(head) + random.Random(seed).randbytes(size - head)


@dataclass(frozen=True)
class Written:
    """Where each entry landed: its local header and its data."""

    data: bytes
    headers: Mapping[str, int]
    data_offsets: Mapping[str, int]
    central_offset: int


@dataclass
class TorchZip:
    """Entries in the order they are written. Options bend the layout for attack tests:
    `descriptors=False` puts the sizes in the local headers (as zipfile does on a seekable file);
    `long_descriptors` uses 8-byte sizes (zip64); `unlisted` entries are left out of the central
    directory; `renamed` gives entries another name there; `methods` overrides compression methods
    in the local headers (the data stays stored)."""

    entries: list[tuple[str, bytes]] = field(default_factory=list)
    descriptors: bool = True
    long_descriptors: bool = False
    unlisted: frozenset[str] = frozenset()
    renamed: Mapping[str, str] = field(default_factory=dict)
    methods: Mapping[str, int] = field(default_factory=dict)

    def add(self, name: str, data: bytes) -> TorchZip:
        self.entries.append((name, data))
        return self

    def build(self) -> Written:
        out = bytearray()
        headers: dict[str, int] = {}
        data_offsets: dict[str, int] = {}
        directory = bytearray()
        listed = 0
        for name, data in self.entries:
            raw_name = name.encode()
            offset = len(out)
            pad = (-(offset + 30 + len(raw_name) + 4)) % _ALIGN
            extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            crc = zlib.crc32(data)
            method = self.methods.get(name, 0)
            flags = _FLAGS if self.descriptors else 0x0800
            sizes = (0, 0, 0) if self.descriptors else (crc, len(data), len(data))
            out += LOCAL + struct.pack("<5H3I2H", 20, flags, method, 0, 0, *sizes, len(raw_name), len(extra))
            out += raw_name + extra
            headers[name] = offset
            data_offsets[name] = len(out)
            out += data
            if self.descriptors:
                if self.long_descriptors:
                    out += DESCRIPTOR + struct.pack("<I2Q", crc, len(data), len(data))
                else:
                    out += DESCRIPTOR + struct.pack("<3I", crc, len(data), len(data))
            if name in self.unlisted:
                continue
            listed += 1
            central_name = self.renamed.get(name, name).encode()
            directory += CENTRAL + struct.pack(
                "<6H3I5HII", 0, 20, flags, method, 0, 0, crc, len(data), len(data),
                len(central_name), 0, 0, 0, 0, 0, offset,
            )  # fmt: skip
            directory += central_name
        central_offset = len(out)
        out += directory
        out += end_records(listed, len(directory), central_offset, at=len(out))
        return Written(bytes(out), headers, data_offsets, central_offset)


def end_records(
    count: int, directory_size: int, directory_offset: int, *, at: int, zip64: bool = True
) -> bytes:
    """The end record written at file offset `at`, after a zip64 end record and its locator (as torch
    writes them) unless `zip64` is False."""
    end = END + struct.pack("<4H2IH", 0, 0, count, count, directory_size, directory_offset, 0)
    if not zip64:
        return end
    record = ZIP64_END + struct.pack(
        "<QHHII4Q", 44, 45, 45, 0, 0, count, count, directory_size, directory_offset
    )
    locator = ZIP64_LOCATOR + struct.pack("<IQI", 0, at, 1)
    return record + locator + end


def checkpoint(
    data_pkl: bytes,
    storages: Sequence[bytes],
    *,
    root: str = "archive",
    after: Sequence[tuple[str, bytes]] = (),
    **options: object,
) -> TorchZip:
    """torch.save's layout: data.pkl, the small records, the storages, then `after` (extra entries an
    attacker appends), version and serialization id."""
    archive = TorchZip(**options)  # type: ignore[arg-type]
    archive.add(f"{root}/data.pkl", data_pkl)
    archive.add(f"{root}/.format_version", b"1")
    archive.add(f"{root}/.storage_alignment", b"64")
    archive.add(f"{root}/byteorder", b"little")
    for key, storage in enumerate(storages):
        archive.add(f"{root}/data/{key}", storage)
    for name, data in after:
        archive.add(name, data)
    archive.add(f"{root}/version", b"3\n")
    archive.add(f"{root}/.data/serialization_id", b"1234567890" * 4)
    return archive


def embedded_archive(data_pkl: bytes, *, at: int, root: str = "evil") -> tuple[bytes, int]:
    """A whole small checkpoint meant to sit at file offset `at` inside another file's tensor bytes,
    its offsets counted from that file's first byte: a reader that finds its end record (in a prefix of
    the outer file that ends after it) loads `data_pkl`. Returns the bytes and where its end record lies
    within them."""
    inner = TorchZip(descriptors=False)
    inner.add(f"{root}/data.pkl", data_pkl)
    inner.add(f"{root}/version", b"3\n")
    written = inner.build()
    body = written.data[: written.central_offset]
    directory = bytearray()
    count = 0
    pos = written.central_offset
    while written.data[pos : pos + 4] == CENTRAL:
        (name_len,) = struct.unpack("<H", written.data[pos + 28 : pos + 30])
        record = bytearray(written.data[pos : pos + 46 + name_len])
        (offset,) = struct.unpack("<I", record[42:46])
        record[42:46] = struct.pack("<I", offset + at)
        directory += record
        pos += 46 + name_len
        count += 1
    tail = end_records(count, len(directory), at + len(body), at=at + len(body) + len(directory), zip64=False)
    blob = body + bytes(directory) + tail
    return blob, len(blob) - 22
