"""Fault injection: make chosen requests fail the ways a real upstream and CDN fail.

    hub.faults.add(Fault(Respond(503), match="*/resolve/*/config.json", times=2))
    hub.faults.add(Fault(Truncate(after_bytes=1000), host=Host.CDN, times=1))
    hub.faults.go_offline()            # every request on both hosts: connection closed, no answer
    hub.faults.go_online()

Several faults can hit one request (each spends one of its `times`): a `Slow` delay plus a `Truncate`
makes a slow, cut download. `Respond`, `Disconnect`, `Redirect` and `GzipBomb` end the request (answered
in place of the Hub, before its rate limiter, so they carry no RateLimit headers); the others shape its
body.

Effects:
- `Respond(status, error_code, message, retry_after)`: a coded error answer.
- `Disconnect()`: close the connection without an answer.
- `Truncate(after_bytes)`: announce the full body, close after `after_bytes` (wire bytes when compressed).
- `WrongDigest(at_end=False, offset=None)`: flip the first (or last, or the one at `offset`) byte of the body.
- `Slow(delay_seconds, bytes_per_second)`: delay the answer and/or throttle the body.
- `Redirect(location, status=302)`: answer a redirect to any URL, e.g. another loopback port
  (`http://127.0.0.1:<port>/`) or the cloud metadata address (`http://169.254.169.254/latest/meta-data/`):
  a proxy must refuse to follow redirects off the upstream it trusts (SSRF).

      hub.faults.add(Fault(Redirect("http://169.254.169.254/latest/meta-data/"), match="/api/models/*"))

- `GzipBomb(decoded_bytes, prefix=b"")`: answer 200 `Content-Type: application/json`,
  `Content-Encoding: gzip` (whatever the request's Accept-Encoding) with a body compressed on the fly
  (about 1000:1) that decodes to `prefix` then spaces, `decoded_bytes` in all. The fake never holds the
  decoded bytes. A proxy must bound what it decodes. Works on any URL, e.g. the resolve of a regular file:

      hub.faults.add(Fault(GzipBomb(8 << 30, prefix=b'{"id": "'), match="/api/models/*"))
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from tests.fakehub.requestlog import Host, RequestRecord


@dataclass(frozen=True)
class Respond:
    """Answer this status instead (optionally with the Hub's X-Error-Code and a Retry-After)."""

    status: int = 503
    error_code: str | None = None
    message: str = "Service Unavailable"
    retry_after: int | None = None


@dataclass(frozen=True)
class Disconnect:
    """Close the connection before sending anything."""


@dataclass(frozen=True)
class Truncate:
    """Announce the full Content-Length but close the connection after `after_bytes` body bytes."""

    after_bytes: int


@dataclass(frozen=True)
class WrongDigest:
    """Serve different bytes of the same length: the first byte of the body is flipped, or with
    `at_end=True` the last one (a corruption that only the final digest check can catch), or with
    `offset=N` the byte at offset N of the file (a tampered middle that a streaming proxy hands out
    before it can know)."""

    at_end: bool = False
    offset: int | None = None


@dataclass(frozen=True)
class Slow:
    """Wait `delay_seconds` before answering, and/or send the body at `bytes_per_second`."""

    delay_seconds: float = 0.0
    bytes_per_second: int | None = None


@dataclass(frozen=True)
class Redirect:
    """Answer `status` with `Location: location` (any URL, relative or absolute) and nothing else."""

    location: str
    status: int = 302


@dataclass(frozen=True)
class GzipBomb:
    """Answer 200 with a gzip body that decodes to `prefix` then spaces, `decoded_bytes` in all."""

    decoded_bytes: int
    prefix: bytes = b""

    def __post_init__(self) -> None:
        if self.decoded_bytes < len(self.prefix):
            raise ValueError("decoded_bytes must cover the prefix")


Effect = Respond | Disconnect | Truncate | WrongDigest | Slow | Redirect | GzipBomb
RequestPredicate = Callable[[RequestRecord], bool]


@dataclass(frozen=True)
class Fault:
    """`effect` on requests that match: `match` is a glob on the decoded URL path (`*` crosses `/`)
    or a predicate; `host`/`method` narrow it; `times=None` means every matching request."""

    effect: Effect
    match: str | RequestPredicate = "*"
    host: Host | None = None
    method: str | None = None
    times: int | None = None

    def applies_to(self, record: RequestRecord) -> bool:
        if self.host is not None and record.host != self.host:
            return False
        if self.method is not None and record.method != self.method.upper():
            return False
        if isinstance(self.match, str):
            return fnmatchcase(record.path, self.match)
        return self.match(record)


@dataclass
class FaultHandle:
    """A registered fault and how often it fired; `remaining` is None for unlimited faults."""

    fault: Fault
    remaining: int | None
    hits: int = 0


@dataclass
class _Outage:
    effect: Disconnect | Respond = field(default_factory=Disconnect)


class FaultBook:
    """The faults of one FakeHub. Thread-safe: tests add faults while the servers consume them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: list[FaultHandle] = []
        self._outages: dict[Host, _Outage] = {}

    def add(self, fault: Fault) -> FaultHandle:
        handle = FaultHandle(fault=fault, remaining=fault.times)
        with self._lock:
            self._handles.append(handle)
        return handle

    def remove(self, handle: FaultHandle) -> None:
        with self._lock:
            self._handles = [h for h in self._handles if h is not handle]

    def clear(self) -> None:
        """Forget every fault and end every outage."""
        with self._lock:
            self._handles.clear()
            self._outages.clear()

    def go_offline(self, host: Host | None = None, *, effect: Disconnect | Respond | None = None) -> None:
        """Every request to `host` (both when None) gets `effect`: by default the connection is closed."""
        outage = _Outage(effect or Disconnect())
        with self._lock:
            for each in (host,) if host is not None else tuple(Host):
                self._outages[each] = outage

    def go_online(self, host: Host | None = None) -> None:
        with self._lock:
            for each in (host,) if host is not None else tuple(Host):
                self._outages.pop(each, None)

    def take(self, record: RequestRecord) -> tuple[Effect, ...]:
        """The effects for this request, spending one use of every fault that matched."""
        with self._lock:
            outage = self._outages.get(record.host)
            if outage is not None:
                return (outage.effect,)
            effects: list[Effect] = []
            for handle in self._handles:
                if handle.remaining == 0 or not handle.fault.applies_to(record):
                    continue
                handle.hits += 1
                if handle.remaining is not None:
                    handle.remaining -= 1
                effects.append(handle.fault.effect)
            return tuple(effects)
