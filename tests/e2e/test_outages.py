"""S3 or PostgreSQL down for a while: coded 503s, readiness says so, and hubgate recovers by itself."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mirror.config import Settings
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate, hubgate_in_thread, hubgate_settings
from tests.e2e.tcp_proxy import Switch, toggle_proxy
from tests.fakehub import FakeHub, FakeHubServer
from tests.fakehub.fixtures import MODEL_ID
from tests.pg import PostgresServer
from tests.storage.seaweed import SeaweedS3


@contextlib.contextmanager
def _settings_behind_proxies(
    upstream: FakeHubServer, postgres: PostgresServer, seaweedfs: SeaweedS3, directory: Path, **sections: Any
) -> Iterator[tuple[Settings, Switch, Switch]]:
    """Settings for a hubgate whose PostgreSQL and S3 are reached through proxies the test controls."""
    s3 = urlsplit(seaweedfs.endpoint_url)
    with (
        toggle_proxy(postgres.host, postgres.port) as db_switch,
        toggle_proxy(s3.hostname or "", s3.port or 0) as s3_switch,
    ):
        database = postgres.create_database()
        settings = hubgate_settings(
            directory,
            upstream.url,
            database={
                "url": f"postgresql+asyncpg://{postgres.user}@127.0.0.1:{db_switch.port}/{database}",
                **sections.pop("database", {}),
            },
            storage={
                "backend": "s3",
                "s3": {
                    "bucket": seaweedfs.new_bucket(),
                    "endpoint_url": f"http://127.0.0.1:{s3_switch.port}",
                    "addressing_style": "path",
                    "access_key_id": seaweedfs.access_key_id,
                    "secret_access_key": seaweedfs.secret_access_key,
                    **sections.pop("s3", {}),
                },
            },
            **sections,
        )
        yield settings, db_switch, s3_switch


@pytest.fixture
def behind_proxies(
    upstream: FakeHubServer, postgres: PostgresServer, seaweedfs: SeaweedS3, tmp_path: Path
) -> Iterator[tuple[RunningHubgate, Switch, Switch]]:
    # hubgate stops before its proxies close: its last writes at shutdown go through them (stopped after
    # them, it waited 30 s on connections the closed proxy left hanging).
    with contextlib.ExitStack() as stack:
        settings, db, s3 = stack.enter_context(
            _settings_behind_proxies(upstream, postgres, seaweedfs, tmp_path / "hubgate")
        )
        yield stack.enter_context(hubgate_in_thread(settings)), db, s3


def _ready(hubgate: RunningHubgate) -> tuple[int, dict[str, str]]:
    answer = request("GET", f"{hubgate.url}/readyz")
    checks: dict[str, str] = json.loads(answer.body)["checks"]
    return answer.status, checks


def _recovers(hubgate: RunningHubgate, url: str, *, within_s: float = 30) -> int:
    """The status of GET `url` once it answers 200 (hubgate reconnects by itself), or the last one."""
    deadline = time.monotonic() + within_s
    while (status := request("GET", url).status) != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    return status


def test_an_object_store_outage(
    behind_proxies: tuple[RunningHubgate, Switch, Switch], fake_hub: FakeHub
) -> None:
    hubgate, _db, s3 = behind_proxies
    url = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"
    expected = fake_hub.repo(MODEL_ID).head.files["model.safetensors"]
    assert request("GET", url).status == 200

    s3.take_down()
    answer = request("GET", url)
    assert answer.status == 503
    assert answer.header("X-Error-Code") == "StorageUnavailable"
    status, checks = _ready(hubgate)
    assert status == 503
    assert checks["object_store"].startswith("unavailable")
    assert checks["database"] == "ok"
    # Metadata still answers while the store is away.
    assert request("HEAD", url).status == 200

    s3.bring_up()
    assert _ready(hubgate)[0] == 200
    again = request("GET", url)
    assert again.status == 200
    assert again.body == expected.blob.read(0, expected.size)


def test_a_database_outage(behind_proxies: tuple[RunningHubgate, Switch, Switch], fake_hub: FakeHub) -> None:
    hubgate, db, _s3 = behind_proxies
    url = f"{hubgate.url}/{MODEL_ID}/resolve/main/config.json"
    assert request("GET", url).status == 200

    db.take_down()
    answer = request("GET", f"{hubgate.url}/api/models/{MODEL_ID}/tree/main?recursive=true")
    assert answer.status == 503
    assert answer.header("X-Error-Code") == "StorageUnavailable"
    status, checks = _ready(hubgate)
    assert status == 503
    assert checks["database"].startswith("unavailable")

    db.bring_up()
    assert _ready(hubgate)[0] == 200
    assert request("GET", url).status == 200
    tree = request("GET", f"{hubgate.url}/api/models/{MODEL_ID}/tree/main?recursive=true")
    assert tree.status == 200


def test_a_database_that_stops_answering_gets_503s_not_hanging_requests(
    upstream: FakeHubServer, postgres: PostgresServer, seaweedfs: SeaweedS3, tmp_path: Path
) -> None:
    # A frozen host, a partition that drops packets, a failover that leaves the old address silent: the
    # connections stay open and nothing answers. Without bounds every request waited forever (seen: the
    # readiness check, a stored file, metadata, all still waiting after 60 s).
    database_section = {"statement_timeout_s": 2, "connect_timeout_s": 2}
    with (
        _settings_behind_proxies(
            upstream, postgres, seaweedfs, tmp_path / "hubgate", database=database_section
        ) as (settings, database, _s3),
        hubgate_in_thread(settings) as hubgate,
    ):
        stored = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"
        assert request("GET", stored).status == 200
        database.stall()
        started = time.monotonic()
        status, checks = _ready(hubgate)
        assert status == 503
        assert checks["database"] == "unavailable: TimeoutError"
        for url in (stored, f"{hubgate.url}/{MODEL_ID}/resolve/main/config.json"):
            answer = request("GET", url)  # a stored file's verdict is read on every request: fail closed
            assert answer.status == 503, (url, answer.body)
            assert answer.header("X-Error-Code") == "StorageUnavailable"
        # Each request gives up within a few statement timeouts (unbounded, they all waited past 60 s).
        assert time.monotonic() - started < 45
        scraped = time.monotonic()
        assert request("GET", f"{hubgate.url}/metrics").status == 200  # what an operator looks at now
        assert time.monotonic() - scraped < 15

        database.flow()
        assert _recovers(hubgate, f"{hubgate.url}/readyz") == 200
        assert request("GET", stored).status == 200


def test_an_object_store_that_stops_answering_fails_readiness_within_seconds(
    behind_proxies: tuple[RunningHubgate, Switch, Switch],
) -> None:
    # With botocore's own bounds (a minute per read, five attempts) a probe would wait minutes.
    hubgate, _db, s3 = behind_proxies
    stored = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"
    assert request("GET", stored).status == 200
    s3.stall()
    started = time.monotonic()
    status, checks = _ready(hubgate)
    assert status == 503
    assert checks == {"database": "ok", "object_store": "unavailable: no answer within 5 s"}
    assert time.monotonic() - started < 15

    s3.flow()
    assert _recovers(hubgate, f"{hubgate.url}/readyz") == 200
    assert request("GET", stored).status == 200


def test_a_stalled_object_store_costs_a_request_its_configured_timeouts(
    upstream: FakeHubServer, postgres: PostgresServer, seaweedfs: SeaweedS3, tmp_path: Path
) -> None:
    bounds = {"read_timeout_s": 2, "connect_timeout_s": 2, "max_attempts": 2}
    with (
        _settings_behind_proxies(upstream, postgres, seaweedfs, tmp_path / "hubgate", s3=bounds) as (
            settings,
            _db,
            s3,
        ),
        hubgate_in_thread(settings) as hubgate,
    ):
        stored = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"
        assert request("GET", stored).status == 200
        s3.stall()
        started = time.monotonic()
        answer = request("GET", stored)
        assert answer.status == 503
        assert answer.header("X-Error-Code") == "StorageUnavailable"
        assert time.monotonic() - started < 30  # botocore's own bounds: 5 attempts of 60 s each
        s3.flow()
        assert _recovers(hubgate, stored) == 200


def test_nothing_is_half_written_when_the_store_fails_mid_fetch(
    behind_proxies: tuple[RunningHubgate, Switch, Switch], fake_hub: FakeHub, tmp_path: Path
) -> None:
    hubgate, _db, s3 = behind_proxies
    s3.take_down()
    url = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"
    assert request("GET", url).status == 503
    s3.bring_up()
    assert hubgate.stored_objects() == []
    # No blob row was committed for the object that never got stored: the retry fetches and serves it.
    assert request("GET", url).status == 200
    assert hubgate.stored_objects() == [fake_hub.repo(MODEL_ID).head.files["model.safetensors"].sha256]


def test_a_database_that_stops_answering_does_not_hold_shutdown(
    upstream: FakeHubServer,
    postgres: PostgresServer,
    seaweedfs: SeaweedS3,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A frozen database host or a partition that drops packets: connections stay open, nothing answers.
    # hubgate's last writes (the download log, the audit checkpoint) are given up after close_timeout_s,
    # so it exits by itself within the pod's termination grace instead of being killed.
    directory = tmp_path / "hubgate"
    with _settings_behind_proxies(
        upstream, postgres, seaweedfs, directory, server={"close_timeout_s": 2}
    ) as (settings, database, _s3):
        with hubgate_in_thread(settings) as hubgate:
            url = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"
            assert request("GET", url).status == 200  # a download the log writes at shutdown
            database.stall()
            stopping = time.monotonic()
        stopped_in = time.monotonic() - stopping
        database.flow()
    # Unbounded, it took the harness's 30 s join timeout (and longer); the rest of a stop takes seconds.
    assert stopped_in < 2 + 13, f"hubgate took {stopped_in:.1f} s to stop"
    assert any("last writes" in record.getMessage() for record in caplog.records), caplog.text
