"""Single-stream compression wrappers (gzip, bz2, xz, lzma-alone, zlib, joblib's old ZF files): inflate
within the size and ratio limits and scan what is inside."""

from __future__ import annotations

import bz2
import functools
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .blobs import Blob
from .formats import FileFormat, sniff
from .inflate import DECOMPRESSION_ERRORS, Inflater
from .limits import LimitExceeded, MalformedInput
from .names import strip_compression_suffix
from .zipread import check_inflation

if TYPE_CHECKING:
    from .context import ScanContext

_CHUNK = 1 << 20
_ZFILE_HEADER = 2 + 19  # b"ZF" + hex length field, as joblib < 0.10 wrote it


# Each takes the decoder memory limit: an LZMA header names its dictionary size, and a mutated one asks
# for gigabytes before the first byte is decoded.
_FACTORIES: dict[FileFormat, Callable[[int], Inflater]] = {
    FileFormat.GZIP: lambda memlimit: Inflater(zlib.decompressobj(16 + zlib.MAX_WBITS)),
    FileFormat.ZLIB: lambda memlimit: Inflater(zlib.decompressobj()),
    FileFormat.JOBLIB_ZFILE: lambda memlimit: Inflater(zlib.decompressobj()),
    FileFormat.BZIP2: lambda memlimit: Inflater(bz2.BZ2Decompressor()),
    FileFormat.XZ: lambda memlimit: Inflater(lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=memlimit)),
    FileFormat.LZMA: lambda memlimit: Inflater(lzma.LZMADecompressor(lzma.FORMAT_ALONE, memlimit=memlimit)),
}


class CompressedScanner:
    name = "compressed"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        fmt, _ = sniff(blob, name_hint, ctx.limits)
        make = _FACTORIES.get(fmt)
        if make is None:
            raise MalformedInput(f"no decompressor for {fmt.value}")
        factory = functools.partial(make, ctx.limits.max_decoder_memory)
        start = _zfile_data_start(blob) if fmt is FileFormat.JOBLIB_ZFILE else 0
        label = f"{blob.label}:{fmt.value}"
        inner = ctx.spool(_inflate(blob, start, factory, ctx, fmt), label=label)
        inner_format = ctx.scan_nested(inner, name_hint=strip_compression_suffix(name_hint))
        ctx.release(inner)
        return f"{fmt.value}+{inner_format}"


def _inflate(
    blob: Blob, start: int, factory: Callable[[], Inflater], ctx: ScanContext, fmt: FileFormat
) -> Iterator[bytes]:
    label = f"{blob.label}:{fmt.value}"
    inflater = factory()
    produced = consumed = 0
    offset = start
    try:
        while offset < blob.size:
            chunk = blob.read_at(offset, _CHUNK)
            offset += len(chunk)
            consumed += len(chunk)
            while chunk:
                for data in inflater.feed(chunk):
                    produced += len(data)
                    check_inflation(produced, consumed, ctx.limits, what=f"{fmt.value} stream")
                    ctx.account_inflated(len(data), what=label)
                    if data:
                        yield data
                if not inflater.eof:
                    break
                chunk = inflater.unused_data
                if fmt is not FileFormat.GZIP or not chunk.strip(b"\x00"):
                    return  # bytes after a single stream are ignored by every reader
                inflater = factory()  # concatenated gzip members
    except lzma.LZMAError as exc:
        if "memory usage limit" in str(exc).lower():
            raise LimitExceeded(
                "max_decoder_memory",
                f"{label} needs more than {ctx.limits.max_decoder_memory} bytes to decode",
            ) from exc
        ctx.error(blob.label, f"corrupt {fmt.value} stream: {exc}")
        return
    except DECOMPRESSION_ERRORS as exc:
        # A reader consumes what inflated before the damage, so that part is still scanned.
        ctx.error(blob.label, f"corrupt {fmt.value} stream: {exc}")
        return
    if not inflater.eof:
        ctx.error(blob.label, f"{fmt.value} stream is truncated")


def _zfile_data_start(blob: Blob) -> int:
    header = blob.read_exact(0, _ZFILE_HEADER + 1)
    try:
        int(header[2:_ZFILE_HEADER].decode("ascii").strip().rstrip("L"), 16)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedInput("joblib ZF header has no length") from exc
    return _ZFILE_HEADER + (1 if header[_ZFILE_HEADER : _ZFILE_HEADER + 1] == b" " else 0)
