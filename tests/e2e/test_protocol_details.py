"""Exact protocol behaviour the client relies on: headers, Xet stripping, pagination links, ranges, 304."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlsplit

from huggingface_hub import HfApi

from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeHub, Fault, Host, Slow
from tests.fakehub.fixtures import MANY_FILES_COUNT, MANY_FILES_ID, MODEL_ID


def test_head_answers_from_metadata_with_every_header_the_client_needs(
    hubgate: RunningHubgate, fake_hub: FakeHub
) -> None:
    head = fake_hub.repo(MODEL_ID).head
    weights = head.files["model.safetensors"]
    answer = request("HEAD", f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors")
    assert answer.status == 200
    assert answer.header("X-Repo-Commit") == head.sha
    assert answer.header("ETag") == f'"{weights.sha256}"'
    assert answer.header("X-Linked-Etag") == f'"{weights.sha256}"'
    assert answer.header("X-Linked-Size") == str(weights.size)
    assert answer.header("Content-Length") == str(weights.size)
    assert answer.header("Accept-Ranges") == "bytes"
    assert answer.header("Location") is None
    assert not [name for name in answer.headers if name.lower().startswith("x-xet")]
    assert "xet" not in (answer.header("Link") or "")
    # HEAD never downloads.
    assert fake_hub.log.count(host=Host.CDN) == 0

    small = request("HEAD", f"{hubgate.url}/{MODEL_ID}/resolve/main/config.json")
    assert small.header("ETag") == f'"{head.files["config.json"].git_oid}"'
    assert small.header("X-Linked-Etag") is None


def test_get_serves_ranges_and_not_modified(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    weights = fake_hub.repo(MODEL_ID).head.files["model.safetensors"]
    data = weights.blob.read(0, weights.size)
    url = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"

    whole = request("GET", url)
    assert (whole.status, whole.body) == (200, data)

    part = request("GET", url, headers={"Range": "bytes=10-19"})
    assert (part.status, part.body) == (206, data[10:20])
    assert part.header("Content-Range") == f"bytes 10-19/{weights.size}"

    resume = request("GET", url, headers={"Range": "bytes=100-"})
    assert (resume.status, resume.body) == (206, data[100:])

    outside = request("GET", url, headers={"Range": f"bytes={weights.size}-"})
    assert outside.status == 416
    assert outside.header("Content-Range") == f"bytes */{weights.size}"
    assert outside.header("X-Error-Code") == "RangeNotSatisfiable"

    cached = request("GET", url, headers={"If-None-Match": f'"{weights.sha256}"'})
    assert (cached.status, cached.body) == (304, b"")
    assert cached.header("X-Repo-Commit") == fake_hub.repo(MODEL_ID).head.sha


def test_xet_hints_never_reach_the_client(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    commit = fake_hub.repo(MODEL_ID).head.sha
    tree = request("GET", f"{hubgate.url}/api/models/{MODEL_ID}/tree/main?recursive=true&expand=true")
    assert tree.status == 200
    assert b"xetHash" not in tree.body
    lfs_entries = [e for e in json.loads(tree.body) if e.get("lfs")]
    assert lfs_entries, "the LFS metadata itself is kept"

    paths = request(
        "POST",
        f"{hubgate.url}/api/models/{MODEL_ID}/paths-info/{commit}",
        body=b"paths=model.safetensors&expand=true",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert paths.status == 200
    assert b"xetHash" not in paths.body

    token = request("GET", f"{hubgate.url}/api/models/{MODEL_ID}/xet-read-token/{commit}")
    assert token.status == 403
    assert token.header("X-Error-Code") == "XetDisabled"
    assert token.header("X-Xet-Access-Token") is None
    assert fake_hub.log.count(path="*xet-read-token*") == 0


def test_tree_pagination_links_point_at_hubgate(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    first = request("GET", f"{hubgate.url}/api/models/{MANY_FILES_ID}/tree/main?recursive=True")
    link = first.header("Link")
    assert link is not None
    next_url = link.split(";")[0].strip("<>")
    assert urlsplit(next_url).netloc == urlsplit(hubgate.url).netloc
    assert "cursor=" in next_url

    entries = list(HfApi(endpoint=hubgate.url).list_repo_tree(MANY_FILES_ID, recursive=True))
    files = [entry for entry in entries if entry.__class__.__name__ == "RepoFile"]
    assert len(files) == MANY_FILES_COUNT + 1  # the README too
    assert len({entry.path for entry in entries}) == len(entries)


def test_metadata_addressed_by_commit_is_cached_for_good(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    commit = fake_hub.repo(MODEL_ID).head.sha
    url = f"{hubgate.url}/api/models/{MODEL_ID}/tree/{commit}/docs?recursive=true"
    first = request("GET", url)
    fake_hub.log.clear()
    second = request("GET", url)
    assert first.body == second.body
    assert fake_hub.log.count(path="*tree*") == 0


def _requests_in_progress(hubgate: RunningHubgate) -> float:
    text = request("GET", f"{hubgate.url}/metrics").body.decode()
    return float(
        next(line for line in text.splitlines() if line.startswith("hubgate_requests_in_progress ")).split()[
            -1
        ]
    )


def test_metrics_show_the_requests_a_replica_is_still_answering(
    hubgate: RunningHubgate, fake_hub: FakeHub
) -> None:
    # What a draining replica still has to finish: a download waiting on a slow upstream counts until its
    # handler has returned, beside the scrape that reads the gauge.
    assert _requests_in_progress(hubgate) == 1
    fake_hub.faults.add(Fault(Slow(delay_seconds=3.0), host=Host.CDN, times=1))
    answers: list[int] = []
    download = threading.Thread(
        target=lambda: answers.append(
            request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors").status
        )
    )
    download.start()
    deadline = time.monotonic() + 10
    seen = _requests_in_progress(hubgate)
    while seen < 2 and time.monotonic() < deadline and download.is_alive():
        time.sleep(0.02)
        seen = _requests_in_progress(hubgate)
    assert seen == 2
    download.join(timeout=60)
    assert answers == [200]
    hubgate.flush_downloads()
    assert _requests_in_progress(hubgate) == 1


def test_metrics_count_requests_bytes_cache_and_verdicts(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    url = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"
    size = fake_hub.repo(MODEL_ID).head.files["model.safetensors"].size
    assert request("GET", url).status == 200
    assert request("GET", url).status == 200
    text = request("GET", f"{hubgate.url}/metrics").body.decode()

    def value(sample: str) -> float:
        line = next(line for line in text.splitlines() if line.startswith(sample + " "))
        return float(line.split()[-1])

    assert value('hubgate_requests_total{method="GET",route="resolve",status="200"}') == 2
    assert value("hubgate_bytes_served_total") == 2 * size
    assert value('hubgate_cache_lookups_total{result="miss"}') == 1
    assert value('hubgate_cache_lookups_total{result="hit"}') == 1
    assert value('hubgate_upstream_fetches_total{outcome="ok"}') == 1
    assert value('hubgate_scan_verdicts_total{scanner="hubgate",status="clean"}') == 1
    assert value('hubgate_reviews{state="APPROVED"}') >= 1
