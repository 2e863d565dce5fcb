"""Malformed requests get a clear coded 4xx, reach no upstream, and change nothing."""

from __future__ import annotations

import pytest

from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeHub
from tests.fakehub.fixtures import MODEL_ID


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("GET", "/api/models/bad..id/x", {}, 400, "InvalidRepoId"),
        ("GET", "/api/models/a/b/c/d/e", {}, 404, "NotFound"),
        ("GET", "/api/widgets/acme/x", {}, 400, "InvalidRepoId"),
        ("GET", f"/{MODEL_ID}/resolve/main/..%2F..%2Fetc%2Fpasswd", {}, 400, "InvalidPath"),
        ("GET", f"/{MODEL_ID}/resolve/main/a/%2e%2e/%2e%2e/secret", {}, 400, "InvalidPath"),
        ("GET", f"/{MODEL_ID}/resolve/main/%252e%252e/x", {}, 400, "InvalidPath"),
        ("GET", f"/{MODEL_ID}/resolve/main/%2Fetc%2Fpasswd", {}, 400, "InvalidPath"),
        ("GET", f"/{MODEL_ID}/resolve/ma..in/config.json", {}, 400, "InvalidRevision"),
        ("GET", f"/{MODEL_ID}/resolve/%2Fmain/config.json", {}, 400, "InvalidRevision"),
        ("GET", f"/api/models/{MODEL_ID}/revision/bad%20rev", {}, 400, "InvalidRevision"),
        ("GET", f"/api/models/{MODEL_ID}/tree/main?recursive=maybe", {}, 400, "BadRequest"),
        ("DELETE", f"/{MODEL_ID}/resolve/main/config.json", {}, 405, "MethodNotAllowed"),
        ("GET", f"/{MODEL_ID}/resolve/main/config.json", {"X-Big": "a" * 20_000}, 431, "HeadersTooLarge"),
    ],
)
def test_malformed_requests(
    hubgate: RunningHubgate,
    fake_hub: FakeHub,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    answer = request(method, hubgate.url + path, headers=headers)
    assert answer.status == status
    assert answer.header("X-Error-Code") == code
    assert answer.header("X-Error-Message")
    assert b'"error"' in answer.body
    assert len(fake_hub.log.records) == 0
    assert hubgate.stored_objects() == []


def test_garbage_range_headers(hubgate: RunningHubgate) -> None:
    url = f"{hubgate.url}/{MODEL_ID}/resolve/main/config.json"
    for value in ("bytes=abc", "bytes=5-1", "lines=1-2", "bytes=0-1,4-5"):
        answer = request("GET", url, headers={"Range": value})
        assert answer.status == 400, value
        assert answer.header("X-Error-Code") == "InvalidRange"
    assert hubgate.stored_objects() == []


def test_oversized_bodies_are_refused(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    body = b"paths=" + b"a" * (2 << 20)
    answer = request(
        "POST",
        f"{hubgate.url}/api/models/{MODEL_ID}/paths-info/main",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 413
    assert answer.header("X-Error-Code") == "TooLarge"
    assert fake_hub.log.count(path="*paths-info*") == 0


def test_traversal_in_paths_info_is_refused(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    answer = request(
        "POST",
        f"{hubgate.url}/api/models/{MODEL_ID}/paths-info/main",
        body=b"paths=..%2F..%2Fetc%2Fpasswd",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 400
    assert answer.header("X-Error-Code") == "InvalidPath"
    assert fake_hub.log.count(path="*paths-info*") == 0
