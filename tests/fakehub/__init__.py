"""A faithful fake of the Hugging Face Hub (API host + LFS CDN host) for hubgate's tests and benchmarks.

Build repos from `FakeFile`s, put them in a `FakeHub`, serve it with `serve_fakehub` (async) or
`fakehub_in_thread` (sync), and point a client or hubgate's upstream at `server.url`. Inject failures
with `hub.faults`, inspect traffic with `hub.log`. Ready-made repos live in `tests.fakehub.fixtures`.

    @pytest.fixture
    async def upstream() -> AsyncIterator[FakeHubServer]:
        async with serve_fakehub(build_demo_hub()) as server:
            yield server

    hub.faults.add(Fault(Truncate(after_bytes=1024), host=Host.CDN, times=1))
    assert hub.log.count(method="GET", host=Host.CDN, path=f"*{weights.sha256}") == 1

As harsh as huggingface.co (each module names its public source):
- compression.py: JSON and text answers gzip-compressed for clients that accept it (`FakeHub(compress=
  False)` turns it off); HEAD and Range answers stay identity; LFS objects on the CDN are never compressed.
- aliases.py: `hub.rename(type, old, new)`, `hub.add_alias(type, alias, canonical)`: relative 307s to
  the canonical id; ids match case-insensitively (`hub.lookup`).
- ratelimit.py: `FakeHub(rate_limits=RateLimits(...))` (default: the Hub's anonymous/free tiers; None or
  `RateLimits.off()` to disable), `hub.rate_limiter.reset()`; 429 + RateLimit headers on every answer.
- cookies.py: `Set-Cookie: token=; ...` on every Hub answer; `hf_session` cookie for bearer-authenticated
  answers, which identifies later cookie-only requests (`hub.sessions`).
- faults.py: `Redirect(location, status=302)` and `GzipBomb(decoded_bytes, prefix=b"")` besides the
  transport faults.
"""

from tests.fakehub.aliases import RepoMatch
from tests.fakehub.faults import (
    Disconnect,
    Fault,
    FaultBook,
    FaultHandle,
    GzipBomb,
    Redirect,
    Respond,
    Slow,
    Truncate,
    WrongDigest,
)
from tests.fakehub.files import FakeFile, LfsPointer
from tests.fakehub.hub import FakeHub
from tests.fakehub.ratelimit import RateLimiter, RateLimits
from tests.fakehub.repo import Commit, FakeRepo, RepoSettings
from tests.fakehub.requestlog import Host, RequestLog, RequestRecord
from tests.fakehub.server import FakeHubServer, fakehub_in_thread, serve_fakehub

__all__ = [
    "Commit",
    "Disconnect",
    "FakeFile",
    "FakeHub",
    "FakeHubServer",
    "FakeRepo",
    "Fault",
    "FaultBook",
    "FaultHandle",
    "GzipBomb",
    "Host",
    "LfsPointer",
    "RateLimiter",
    "RateLimits",
    "Redirect",
    "RepoMatch",
    "RepoSettings",
    "RequestLog",
    "RequestRecord",
    "Respond",
    "Slow",
    "Truncate",
    "WrongDigest",
    "fakehub_in_thread",
    "serve_fakehub",
]
