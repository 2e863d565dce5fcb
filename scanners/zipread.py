"""A lenient zip reader, as forgiving as the consumers we protect.

``torch.load`` (miniz) ignores CRC errors and some flag bits, finds members through the central
directory and reads their data at the local header's offset; Python's ``zipfile`` tolerates data
prepended to the archive. Reading the same way, and reporting the oddities instead of failing on them,
is what keeps header tricks from hiding a member.
"""

from __future__ import annotations

import bz2
import itertools
import lzma
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .blobs import Blob
from .inflate import DECOMPRESSION_ERRORS, Inflater
from .limits import LimitExceeded, Limits, MalformedInput

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_EOCD_SIZE = 22
_MAX_COMMENT = 0xFFFF
STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ZipMember:
    name: str
    local_name: str
    method: int
    flags: int
    compressed_size: int
    uncompressed_size: int
    crc: int
    header_offset: int  # local header, relative to the blob
    data_offset: int
    create_system: int
    external_attr: int

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & 0x1)

    @property
    def unix_mode(self) -> int:
        return (self.external_attr >> 16) & 0xFFFF if self.create_system == 3 else 0

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


@dataclass(frozen=True, slots=True)
class ZipDirectory:
    members: tuple[ZipMember, ...]
    prepended: int  # bytes before the archive proper (self-extractor stubs, polyglots); < 0: offsets lie
    central_offset: int


def read_directory(blob: Blob, limits: Limits) -> ZipDirectory:
    tail = blob.tail(_EOCD_SIZE + _MAX_COMMENT)
    pos = tail.rfind(_EOCD)
    if pos < 0 or len(tail) - pos < _EOCD_SIZE:
        raise MalformedInput("zip end-of-central-directory record not found")
    eocd_offset = blob.size - len(tail) + pos
    (_, _, _, entries, cd_size, cd_offset, _) = struct.unpack("<4H2IH", tail[pos + 4 : pos + _EOCD_SIZE])
    # A zip64 end record (written by torch for every checkpoint) sits between the central directory
    # and the classic end record, whether or not the classic fields are saturated.
    if eocd_offset >= 20 and blob.read_at(eocd_offset - 20, 4) == _EOCD64_LOCATOR:
        entries, cd_size, cd_offset, eocd_offset = _zip64_end(blob, eocd_offset)
    elif entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        raise MalformedInput("zip declares zip64 sizes without a zip64 end record")
    if entries > limits.max_members:
        raise LimitExceeded("max_members", f"zip declares {entries} members")
    # Like zipfile, find the central directory right before the end record and shift every offset by
    # the difference (data prepended, or a tampered offset that points past the real directory).
    prepended = eocd_offset - cd_size - cd_offset
    if cd_size > eocd_offset:
        raise MalformedInput("zip central directory lies outside the file")
    central = blob.read_exact(cd_offset + prepended, cd_size)
    members = tuple(_parse_central(blob, central, prepended, limits))
    return ZipDirectory(members, prepended, cd_offset + prepended)


def _zip64_end(blob: Blob, eocd_offset: int) -> tuple[int, int, int, int]:
    locator = blob.read_exact(eocd_offset - 20, 20)
    if locator[:4] != _EOCD64_LOCATOR:
        raise MalformedInput("zip64 end-of-central-directory locator missing")
    (record_offset,) = struct.unpack("<Q", locator[8:16])
    record = blob.read_exact(record_offset, 56)
    if record[:4] != b"PK\x06\x06":
        raise MalformedInput("zip64 end-of-central-directory record missing")
    entries, cd_size, cd_offset = struct.unpack("<3Q", record[32:56])
    return entries, cd_size, cd_offset, record_offset


def _parse_central(blob: Blob, central: bytes, prepended: int, limits: Limits) -> Iterator[ZipMember]:
    pos = 0
    count = 0
    while pos + 46 <= len(central):
        if central[pos : pos + 4] != _CENTRAL:
            break
        (made_by, _, flags, method, _, _, crc, csize, usize, n_len, e_len, c_len, _, _, ext_attr, offset) = (
            struct.unpack("<6H3I5HIi", central[pos + 4 : pos + 46])
        )
        offset &= 0xFFFFFFFF
        raw_name = central[pos + 46 : pos + 46 + n_len]
        extra = central[pos + 46 + n_len : pos + 46 + n_len + e_len]
        pos += 46 + n_len + e_len + c_len
        usize, csize, offset = apply_zip64(extra, usize, csize, offset)
        count += 1
        if count > limits.max_members:
            raise LimitExceeded("max_members", "too many zip members")
        name = decode_name(raw_name, flags)
        header_offset = offset + prepended
        if header_offset < 0:
            raise MalformedInput(f"zip member {name!r}: local header offset lies before the file")
        local = blob.read_exact(header_offset, 30)
        if local[:4] != _LOCAL:
            raise MalformedInput(f"zip member {name!r}: no local header at offset {header_offset}")
        ln_len, le_len = struct.unpack("<2H", local[26:30])
        local_name = decode_name(blob.read_exact(header_offset + 30, ln_len), flags)
        yield ZipMember(
            name=name,
            local_name=local_name,
            method=method,
            flags=flags,
            compressed_size=csize,
            uncompressed_size=usize,
            crc=crc,
            header_offset=header_offset,
            data_offset=header_offset + 30 + ln_len + le_len,
            create_system=made_by >> 8,
            external_attr=ext_attr,
        )


def apply_zip64(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """The zip64 extra field's values for the fields saturated at 0xFFFFFFFF (in the order the format
    stores them: uncompressed size, compressed size, local header offset)."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack("<2H", extra[pos : pos + 4])
        body = extra[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if tag != 1:
            continue
        values = list(struct.unpack(f"<{len(body) // 8}Q", body[: len(body) // 8 * 8]))
        if usize == 0xFFFFFFFF and values:
            usize = values.pop(0)
        if csize == 0xFFFFFFFF and values:
            csize = values.pop(0)
        if offset == 0xFFFFFFFF and values:
            offset = values.pop(0)
    return usize, csize, offset


def decode_name(raw: bytes, flags: int) -> str:
    """A member name as zip readers decode it: UTF-8 when flag bit 11 says so, else code page 437."""
    if flags & 0x800:
        return raw.decode("utf-8", "replace")
    return raw.decode("cp437")


def member_chunks(
    blob: Blob, member: ZipMember, limits: Limits, *, account: Callable[[int], None]
) -> Iterator[bytes]:
    """The member's content, inflated as it streams, under the size and ratio limits. ``account`` is
    told of every inflated piece (the scan-wide budget) and raises to stop inflating."""
    if member.data_offset + member.compressed_size > blob.size:
        raise MalformedInput(f"zip member {member.name!r} data runs past the end of the archive")
    raw = _raw_chunks(blob, member.data_offset, member.compressed_size)
    if member.method == STORED:
        yield from raw
        return
    inflater, raw = _decompressor(member, raw, limits)
    produced = 0
    consumed = 0
    try:
        for chunk in raw:
            consumed += len(chunk)
            for data in inflater.feed(chunk):
                produced += len(data)
                check_inflation(produced, consumed, limits, what=f"zip member {member.name!r}")
                account(len(data))
                if data:
                    yield data
            if inflater.eof:
                return
        tail = inflater.flush()
    except DECOMPRESSION_ERRORS as exc:
        raise MalformedInput(f"corrupt compressed data in {member.name!r}: {exc}") from exc
    if tail:
        account(len(tail))
        yield tail


def _decompressor(
    member: ZipMember, raw: Iterator[bytes], limits: Limits
) -> tuple[Inflater, Iterator[bytes]]:
    if member.method == DEFLATED:
        return Inflater(zlib.decompressobj(-15)), raw
    if member.method == BZIP2:
        return Inflater(bz2.BZ2Decompressor()), raw
    if member.method == LZMA:
        # The zip LZMA header: 2 bytes version, 2 bytes properties size, then the properties.
        head = next(raw, b"")
        if len(head) < 4:
            raise MalformedInput("zip LZMA member too short")
        (psize,) = struct.unpack("<H", head[2:4])
        try:
            lzma_filter = lzma._decode_filter_properties(lzma.FILTER_LZMA1, head[4 : 4 + psize])  # type: ignore[attr-defined]
        except lzma.LZMAError as exc:
            raise MalformedInput(f"bad zip LZMA properties: {exc}") from exc
        if lzma_filter.get("dict_size", 0) > limits.max_decoder_memory:
            raise LimitExceeded(
                "max_decoder_memory",
                f"zip member {member.name!r} asks for a {lzma_filter['dict_size']} byte dictionary",
            )
        impl = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma_filter])
        return Inflater(impl), itertools.chain([head[4 + psize :]], raw)
    raise MalformedInput(f"zip member {member.name!r}: compression method {member.method} is not supported")


def _raw_chunks(blob: Blob, offset: int, size: int) -> Iterator[bytes]:
    end = offset + size
    while offset < end:
        chunk = blob.read_at(offset, min(_CHUNK, end - offset))
        if not chunk:
            raise MalformedInput("zip member data truncated")
        offset += len(chunk)
        yield chunk


def check_inflation(produced: int, consumed: int, limits: Limits, *, what: str) -> None:
    if produced > limits.max_decompressed:
        raise LimitExceeded("max_decompressed", f"{what} inflates beyond {limits.max_decompressed} bytes")
    if produced > limits.ratio_floor and produced > limits.max_ratio * max(consumed, 1):
        raise LimitExceeded("max_ratio", f"{what} inflates more than {limits.max_ratio:g}x")
