from __future__ import annotations

import pytest

from mirror.errors import InvalidRange, RangeNotSatisfiable
from mirror.http.ranges import RangeRefused, parse_range, requested_span


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


def _span(header: str | None, *, if_range: str | None = None, unverified: int = 0) -> tuple[int, int] | None:
    return requested_span(header, if_range=if_range, etag="abc", size=1000, unverified_prefix=unverified)


def test_if_range_must_be_the_strong_etag_or_the_whole_file_is_served() -> None:
    assert _span("bytes=10-", if_range='"abc"') == (10, 1000)
    assert _span("bytes=10-", if_range='W/"abc"') is None
    assert _span("bytes=10-", if_range='"other"') is None
    assert _span("bytes=10-", if_range="Tue, 01 Jan 2030 00:00:00 GMT") is None
    assert _span(None, if_range='"other"') is None


def test_a_range_inside_an_unverified_prefix_is_never_served() -> None:
    # A resume inside it restarts from byte 0; a window inside it is refused.
    assert _span("bytes=500-", unverified=600) is None
    assert _span("bytes=600-", unverified=600) is None
    with pytest.raises(RangeRefused):
        _span("bytes=1-10", unverified=600)
    with pytest.raises(RangeRefused):
        _span("bytes=100-999", unverified=600)
    # What cannot complete such a prefix is served: from byte 0, or past what was handed out.
    assert _span("bytes=0-99", unverified=600) == (0, 100)
    assert _span("bytes=601-", unverified=600) == (601, 1000)
    assert _span("bytes=-10", unverified=600) == (990, 1000)
    assert _span("bytes=500-", unverified=0) == (500, 1000)
