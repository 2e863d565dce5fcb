"""Which bytes of a file a GET gets: one `Range: bytes=...` header parsed strictly, `If-Range`, and the
rule that keeps a client from completing a partial file with bytes of a different download.
"""

from __future__ import annotations

import re

from mirror.errors import InvalidRange, MirrorError, RangeNotSatisfiable

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeRefused(MirrorError):
    """A window inside bytes that hubgate once handed out unverified: only the whole file is served."""

    status = 409
    code = "RangeRefused"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The half-open byte span [start, end) that `header` asks for, or None for the whole file.

    Raises InvalidRange for anything but one well-formed byte range, RangeNotSatisfiable when it
    lies outside the file.
    """
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        raise InvalidRange(f"unsupported Range {header[:100]!r}: hubgate serves one 'bytes=a-b' range")
    first, last = found.groups()
    if not first and not last:
        raise InvalidRange(f"invalid Range {header[:100]!r}")
    if not first:
        length = int(last)
        if length == 0:
            raise _unsatisfiable(size)
        return max(0, size - length), size
    start = int(first)
    end = size if not last else int(last) + 1
    if last and int(last) < start:
        raise InvalidRange(f"invalid Range {header[:100]!r}: the end is before the start")
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(end, size)


def requested_span(
    range_header: str | None,
    *,
    if_range: str | None,
    etag: str,
    size: int,
    unverified_prefix: int,
) -> tuple[int, int] | None:
    """The span [start, end) a GET is answered with, or None for the whole file (200).

    - `If-Range` that is not exactly the file's strong ETag (a weak tag, another tag, a date: hubgate
      sends no Last-Modified) asks for the whole file, as RFC 9110 section 13.1.5 says.
    - `unverified_prefix` bytes of this file were once handed out by a live download that then failed
      (Pipeline.unverified_prefix): a client may hold them in its partial file. A range starting inside
      them (after byte 0) would complete that file with bytes of another download, a file no one
      verified. A resume (`bytes=N-`) gets the whole file instead, which huggingface_hub, browsers and
      download managers take as "start again" (curl -C fails); a window gets RangeRefused.
    Raises InvalidRange, RangeNotSatisfiable or RangeRefused.
    """
    span = parse_range(range_header, size)
    if span is None or range_header is None:
        return None
    if if_range is not None and if_range.strip() != f'"{etag}"':
        return None
    start, _end = span
    if 0 < start <= unverified_prefix:
        if range_header.strip().endswith("-"):
            return None
        raise RangeRefused(
            f"hubgate once handed out the first {unverified_prefix} bytes of this file from a download "
            "that then failed verification; a range inside them is refused: download the whole file"
        )
    return span


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"the requested range is outside the file ({size} bytes)",
        headers={"Content-Range": f"bytes */{size}"},
    )
