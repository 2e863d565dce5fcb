"""After a 429, hubgate leaves the Hub alone for the announced time, per identity and bucket."""

from __future__ import annotations

import pytest

from mirror.errors import UpstreamRateLimited
from mirror.hub.ratelimit import API, RESOLVERS, UpstreamRateLimits, announced_wait, bucket_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "42"}, (42.0, None)),
        ({"RateLimit": '"api";r=0;t=17'}, (17.0, "api")),
        ({"RateLimit": '"resolvers";r=0;t=120', "Retry-After": "100"}, (120.0, "resolvers")),
        ({"RateLimit": '"api";r=5;t=17'}, (None, None)),  # not exhausted: says nothing about waiting
        ({"RateLimit": "garbage"}, (None, None)),
        ({}, (None, None)),
        ({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, (40.0, None)),
    ],
)
def test_the_wait_is_read_from_retry_after_and_ratelimit(
    headers: dict[str, str], expected: tuple[float | None, str | None]
) -> None:
    assert announced_wait(headers, now_epoch=60.0) == expected


def test_buckets_follow_the_hubs_classes() -> None:
    assert bucket_of("/openai-community/gpt2/resolve/main/config.json") == RESOLVERS
    assert bucket_of("/api/models/openai-community/gpt2/revision/main") == API


def test_a_limited_identity_waits_and_others_do_not() -> None:
    clock = Clock()
    seen: list[str] = []
    limits = UpstreamRateLimits(default_wait_s=60, on_limited=seen.append, clock=clock)
    error = limits.limited("anonymous", API, {"RateLimit": '"api";r=0;t=30'})
    assert error.status == 429
    assert error.headers["Retry-After"] == "30"
    with pytest.raises(UpstreamRateLimited) as raised:
        limits.check("anonymous", API)
    assert raised.value.headers["Retry-After"] == "30"
    limits.check("anonymous", RESOLVERS)  # another bucket of the Hub
    limits.check("token-hash", API)  # another identity
    clock.now += 29.5
    with pytest.raises(UpstreamRateLimited, match="try again in 1 s"):
        limits.check("anonymous", API)
    clock.now += 1
    limits.check("anonymous", API)
    assert seen == [API]
    assert limits.active() == 0


def test_the_bucket_named_by_the_hub_wins_and_an_unsaid_wait_uses_the_default() -> None:
    clock = Clock()
    limits = UpstreamRateLimits(default_wait_s=60, clock=clock)
    limits.limited("anonymous", API, {"RateLimit": '"resolvers";r=0;t=5'})
    limits.check("anonymous", API)
    with pytest.raises(UpstreamRateLimited):
        limits.check("anonymous", RESOLVERS)
    error = limits.limited("svc", API, {})
    assert error.headers["Retry-After"] == "60"


def test_an_absurd_wait_is_capped() -> None:
    limits = UpstreamRateLimits(default_wait_s=60, clock=Clock())
    assert limits.limited("a", API, {"Retry-After": "99999999"}).headers["Retry-After"] == "3600"
