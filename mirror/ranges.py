"""One `Range: bytes=...` header, parsed strictly."""

from __future__ import annotations

import re

from mirror.errors import InvalidRange, RangeNotSatisfiable

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


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


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"the requested range is outside the file ({size} bytes)",
        headers={"Content-Range": f"bytes */{size}"},
    )
