from __future__ import annotations

import pytest

from mirror.errors import InvalidRange, RangeNotSatisfiable
from mirror.ranges import parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", (0, 1)),
        ("bytes=0-99", (0, 100)),
        ("bytes=10-", (10, 100)),
        ("bytes=-10", (90, 100)),
        ("bytes=-1000", (0, 100)),
        ("bytes=50-1000", (50, 100)),
    ],
)
def test_single_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    "header", ["bytes=", "bytes=-", "items=0-1", "bytes=0-1,5-6", "bytes=5-1", "garbage", "bytes=a-b"]
)
def test_garbage_ranges_are_refused(header: str) -> None:
    with pytest.raises(InvalidRange):
        parse_range(header, 100)


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=200-300", "bytes=-0"])
def test_unsatisfiable_ranges_name_the_size(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, 100)
    assert caught.value.headers["Content-Range"] == "bytes */100"
