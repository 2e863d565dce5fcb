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
"""

from tests.fakehub.faults import (
    Disconnect,
    Fault,
    FaultBook,
    FaultHandle,
    Respond,
    Slow,
    Truncate,
    WrongDigest,
)
from tests.fakehub.files import FakeFile, LfsPointer
from tests.fakehub.hub import FakeHub
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
    "Host",
    "LfsPointer",
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
