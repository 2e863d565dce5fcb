"""The Hub's rate limits: fixed windows per identity, per bucket, announced on every answer.

What huggingface.co does (hub-docs `docs/hub/rate-limits.md`, and the IETF draft
draft-ietf-httpapi-ratelimit-headers-09 whose header format it uses):
- buckets: "api" is spent by every `/api/` call, "resolvers" by every URL with `/resolve/`, "pages" by
  the web pages (the fake serves none, so it has no "pages" bucket); the CDN host is not limited;
- fixed 5-minute windows; anonymous callers are counted per IP (api 500, resolvers 3000 per window),
  logged-in callers per user (api 1000, resolvers 5000 on the free tier);
- every answer carries `RateLimit: "<bucket>";r=<remaining>;t=<seconds until reset>` and
  `RateLimit-Policy: "fixed window";"<bucket>";q=<allowed per window>;w=<window seconds>`;
- past the limit: 429 Too Many Requests with those headers (r=0) and `Retry-After: <t>`. huggingface_hub
  >= 1.2 (`utils/_http.py` `parse_ratelimit_headers`, `_http_backoff_base`) then sleeps `t + 1` seconds
  and retries.

The fake's windows start at an identity's first request in a bucket (not aligned to wall-clock multiples
of the window), so `t` right after the first request is the whole window: predictable in tests. Use
`RateLimits(window_s=2)` for short windows, `hub.rate_limiter.reset()` to open every window at once, or
pass a `clock` to `RateLimiter` to drive time by hand.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Bucket = Literal["api", "resolvers"]
WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class RateLimits:
    """Requests allowed per window and bucket; the defaults are the real Hub's anonymous and free tiers."""

    api: int = 500
    resolvers: int = 3000
    authenticated_api: int = 1000
    authenticated_resolvers: int = 5000
    window_s: float = WINDOW_SECONDS
    enabled: bool = True

    @classmethod
    def off(cls) -> RateLimits:
        """No limits and no RateLimit headers (same as `FakeHub(rate_limits=None)`)."""
        return cls(enabled=False)

    def quota(self, bucket: Bucket, *, authenticated: bool) -> int:
        if bucket == "api":
            return self.authenticated_api if authenticated else self.api
        return self.authenticated_resolvers if authenticated else self.resolvers


@dataclass(frozen=True)
class Identity:
    """Who a window belongs to: a user name when the caller authenticated, else the client IP."""

    key: str
    authenticated: bool

    @classmethod
    def of(cls, *, user: str | None, ip: str | None) -> Identity:
        if user is not None:
            return cls(key=f"user:{user}", authenticated=True)
        return cls(key=f"ip:{ip or 'unknown'}", authenticated=False)


@dataclass(frozen=True)
class Decision:
    """The outcome of one request: allowed or not, and what the RateLimit headers say."""

    bucket: Bucket
    allowed: bool
    remaining: int
    quota: int
    reset_in_s: int
    window_s: int

    @property
    def headers(self) -> dict[str, str]:
        return {
            "RateLimit": f'"{self.bucket}";r={self.remaining};t={self.reset_in_s}',
            "RateLimit-Policy": f'"fixed window";"{self.bucket}";q={self.quota};w={self.window_s}',
        }


@dataclass
class _Window:
    started: float
    used: int


def bucket_of(path: str) -> Bucket | None:
    """The bucket a Hub-host request spends from (decoded path), None for neither."""
    if path == "/api" or path.startswith("/api/"):
        return "api"
    if "/resolve/" in path:
        return "resolvers"
    return None


class RateLimiter:
    """Thread-safe fixed-window counters per (identity, bucket)."""

    def __init__(self, limits: RateLimits | None = None, *, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._limits = limits if limits is not None else RateLimits.off()
        self._clock = clock
        self._windows: dict[tuple[str, Bucket], _Window] = {}

    @property
    def limits(self) -> RateLimits:
        return self._limits

    @property
    def enabled(self) -> bool:
        return self._limits.enabled

    def configure(self, limits: RateLimits | None) -> None:
        """New limits (None: off); every window starts afresh."""
        with self._lock:
            self._limits = limits if limits is not None else RateLimits.off()
            self._windows.clear()

    def reset(self) -> None:
        """Open every window: every identity gets its full quota again."""
        with self._lock:
            self._windows.clear()

    def spend(self, identity: Identity, bucket: Bucket) -> Decision | None:
        """Count one request; None when limits are off."""
        with self._lock:
            limits = self._limits
            if not limits.enabled:
                return None
            now = self._clock()
            quota = limits.quota(bucket, authenticated=identity.authenticated)
            window = self._windows.get((identity.key, bucket))
            if window is None or now - window.started >= limits.window_s:
                window = self._windows[(identity.key, bucket)] = _Window(started=now, used=0)
            allowed = window.used < quota
            if allowed:
                window.used += 1
            # Elapsed first: `started + window - now` can round to a hair over the window (t=301 of 300).
            reset_in = max(1, math.ceil(limits.window_s - (now - window.started)))
            return Decision(
                bucket=bucket,
                allowed=allowed,
                remaining=max(0, quota - window.used),
                quota=quota,
                reset_in_s=reset_in,
                window_s=max(1, math.ceil(limits.window_s)),
            )

    def used(self, identity: Identity, bucket: Bucket) -> int:
        """Requests counted in the identity's current window (for tests)."""
        with self._lock:
            window = self._windows.get((identity.key, bucket))
            if window is None or self._clock() - window.started >= self._limits.window_s:
                return 0
            return window.used


def exceeded_message(identity: Identity, ip: str | None, decision: Decision) -> str:
    if not identity.authenticated:
        # The Hub's answer to an anonymous IP over its limit, as users quote it in public bug reports.
        return (
            f"We had to rate limit your IP ({ip}). To continue using our service, create a HF account or "
            "login to your existing account, and make sure you pass a HF_TOKEN if you're using the API."
        )
    # No public recording of the authenticated wording was found: a plausible one.
    return (
        f"We had to rate limit you, you hit the quota of {decision.quota} {decision.bucket} requests per "
        f"{decision.window_s} seconds. Retry after {decision.reset_in_s} seconds."
    )
