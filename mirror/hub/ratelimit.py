"""Upstream rate limits: once the Hub says 429, hubgate waits as told instead of asking again.

The Hub limits requests per token, and anonymous requests per IP, in fixed five-minute windows with
separate buckets for its API and for file resolves (hub-docs `docs/hub/rate-limits.md`). A 429 carries
`Retry-After` and/or `RateLimit: "api";r=0;t=<seconds until reset>` (IETF draft-ietf-httpapi-ratelimit-
headers). A mirror puts a whole company behind one IP and a few tokens, so retrying on every client
request would only keep the window shut. Until the announced time has passed, requests that would spend
the same identity's same bucket fail at once with UpstreamRateLimited (429 + Retry-After to clients);
callers that hold a stored answer serve it instead.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

from mirror.errors import UpstreamRateLimited

API = "api"
RESOLVERS = "resolvers"
# Never trust a wait longer than this (a broken header must not shut hubgate out for a day).
_MAX_WAIT_S = 3600.0
_ITEM = re.compile(r'^\s*"(?P<name>[^"]*)"(?P<params>(?:\s*;\s*[A-Za-z0-9_-]+=[^;,]*)*)\s*$')


def bucket_of(path: str) -> str:
    """The Hub's bucket a request spends from: file resolves or the API."""
    return RESOLVERS if "/resolve/" in path else API


def announced_wait(headers: Mapping[str, str], *, now_epoch: float) -> tuple[float | None, str | None]:
    """(seconds to wait, bucket name) from a 429's `Retry-After` and `RateLimit` headers."""
    waits: list[float] = []
    retry_after = headers.get("Retry-After", "").strip()
    if retry_after.isdigit():
        waits.append(float(retry_after))
    elif retry_after:
        with contextlib.suppress(TypeError, ValueError):
            waits.append(parsedate_to_datetime(retry_after).timestamp() - now_epoch)
    bucket = None
    for item in headers.get("RateLimit", "").split(","):
        match = _ITEM.match(item)
        if match is None:
            continue
        params = dict(part.strip().split("=", 1) for part in match.group("params").split(";") if "=" in part)
        remaining, reset = params.get("r", ""), params.get("t", "")
        if remaining.strip() == "0" and reset.strip().isdigit():
            waits.append(float(reset))
            bucket = match.group("name").split("|")[0] or None
    if not waits:
        return None, bucket
    return max(0.0, *waits), bucket


class UpstreamRateLimits:
    """Per (upstream identity, bucket): the moment the Hub will take requests again."""

    def __init__(
        self,
        *,
        default_wait_s: float,
        on_limited: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._default_wait_s = default_wait_s
        self._on_limited = on_limited
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[tuple[str, str], float] = {}

    def check(self, identity: str, bucket: str) -> None:
        """Raise UpstreamRateLimited while the Hub's announced wait for this identity has not passed."""
        with self._lock:
            until = self._until.get((identity, bucket))
            if until is None:
                return
            left = until - self._clock()
            if left <= 0:
                del self._until[(identity, bucket)]
                return
        raise _limited(left, bucket)

    def limited(self, identity: str, bucket: str, headers: Mapping[str, str]) -> UpstreamRateLimited:
        """Record a 429 answer; returns the error to raise."""
        wait, named = announced_wait(headers, now_epoch=time.time())
        wait = min(_MAX_WAIT_S, self._default_wait_s if wait is None else wait)
        bucket = named if named in (API, RESOLVERS) else bucket
        with self._lock:
            until = self._clock() + wait
            key = (identity, bucket)
            self._until[key] = max(until, self._until.get(key, until))
        if self._on_limited is not None:
            self._on_limited(bucket)
        return _limited(wait, bucket)

    def active(self) -> int:
        """How many (identity, bucket) pairs are waiting now (for metrics)."""
        now = self._clock()
        with self._lock:
            return sum(1 for until in self._until.values() if until > now)


def _limited(wait_s: float, bucket: str) -> UpstreamRateLimited:
    seconds = max(1, math.ceil(wait_s))
    return UpstreamRateLimited(
        f"the Hub is rate-limiting hubgate's {bucket} requests; try again in {seconds} s "
        "(what hubgate has stored is still served)",
        retry_after_s=seconds,
    )
