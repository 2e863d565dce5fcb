"""Many replicas on one bucket and one database behave as one hubgate."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.http import request
from tests.e2e.payloads import unusual_but_benign_pickle
from tests.e2e.replicas import Replica, replicas
from tests.fakehub import FakeFile, FakeHub, FakeHubServer, FakeRepo, Fault, Host, RepoSettings, Slow
from tests.fakehub.fixtures import BIG_FILE_PATH, BIG_MODEL_ID, big_model_repo
from tests.pg import PostgresServer
from tests.storage.seaweed import SeaweedS3

BIG_URL = f"/{BIG_MODEL_ID}/resolve/main/{BIG_FILE_PATH}"


def _sha256(answer_body: bytes) -> str:
    return hashlib.sha256(answer_body).hexdigest()


def test_three_replicas_fetch_a_cold_blob_from_upstream_once(
    upstream: FakeHubServer, fake_hub: FakeHub, postgres: PostgresServer, seaweedfs: SeaweedS3, tmp_path: Path
) -> None:
    weights = fake_hub.add(big_model_repo()).head.files[BIG_FILE_PATH]
    fake_hub.faults.add(Fault(Slow(delay_seconds=0.5), host=Host.CDN, times=1))
    with (
        replicas(
            3, upstream=upstream.url, postgres=postgres, seaweed=seaweedfs, tmp_path=tmp_path, lease_ttl_s=10
        ) as group,
        ThreadPoolExecutor(6) as pool,
    ):
        answers = list(pool.map(lambda r: request("GET", r.url + BIG_URL), [*group, *group]))
    assert [answer.status for answer in answers] == [200] * 6
    assert {_sha256(answer.body) for answer in answers} == {weights.sha256}
    assert fake_hub.log.count(method="GET", host=Host.CDN) == 1


def test_a_replica_killed_mid_fetch_blocks_the_others_only_until_its_lease_lapses(
    upstream: FakeHubServer, fake_hub: FakeHub, postgres: PostgresServer, seaweedfs: SeaweedS3, tmp_path: Path
) -> None:
    weights = fake_hub.add(big_model_repo()).head.files[BIG_FILE_PATH]
    # The first download crawls (50 MB at 5 MB/s): the replica doing it is killed long before it ends.
    fake_hub.faults.add(Fault(Slow(bytes_per_second=5_000_000), host=Host.CDN, times=1))
    with replicas(
        2, upstream=upstream.url, postgres=postgres, seaweed=seaweedfs, tmp_path=tmp_path, lease_ttl_s=2
    ) as (doomed, survivor):
        threading.Thread(target=lambda: _ignore_errors(doomed), daemon=True).start()
        while fake_hub.log.count(method="GET", host=Host.CDN) == 0:
            time.sleep(0.05)
        doomed.kill()
        started = time.monotonic()
        answer = request("GET", survivor.url + BIG_URL)
        waited = time.monotonic() - started
    assert answer.status == 200
    assert _sha256(answer.body) == weights.sha256
    assert fake_hub.log.count(method="GET", host=Host.CDN) == 2  # the dead one's, then the survivor's
    assert waited < 30


def _ignore_errors(replica: Replica) -> None:
    with contextlib.suppress(OSError):  # the replica is killed mid-answer
        request("GET", replica.url + BIG_URL)


def test_a_review_decided_on_one_replica_applies_on_all_at_once(
    upstream: FakeHubServer, fake_hub: FakeHub, postgres: PostgresServer, seaweedfs: SeaweedS3, tmp_path: Path
) -> None:
    fake_hub.add(
        FakeRepo(
            "acme/odd",
            [FakeFile.from_bytes("state.bin", unusual_but_benign_pickle())],
            settings=RepoSettings(card_data={"license": "mit"}),
        )
    )
    url = "/acme/odd/resolve/main/state.bin"
    with replicas(
        2, upstream=upstream.url, postgres=postgres, seaweed=seaweedfs, tmp_path=tmp_path, lease_ttl_s=10
    ) as (first, second):
        assert request("GET", first.url + url).status == 403
        assert request("GET", second.url + url).status == 403
        token = _create_token(first)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        listing = request("GET", first.url + "/api/hubgate/v1/reviews?state=QUARANTINED", headers=headers)
        review_id = json.loads(listing.body)["items"][0]["id"]
        approve = request(
            "POST",
            f"{first.url}/api/hubgate/v1/reviews/{review_id}/approve",
            headers=headers,
            body=b'{"reason": "ours"}',
        )
        assert approve.status == 200
        assert request("GET", second.url + url).status == 200
        revoke = request(
            "POST",
            f"{second.url}/api/hubgate/v1/reviews/{review_id}/revoke",
            headers=headers,
            body=b'{"reason": "changed our mind"}',
        )
        assert revoke.status == 200
        assert request("GET", first.url + url).status == 403


def _create_token(replica: Replica) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "mirror.cli", "token", "create", "--name", "sec", "--role", "approver"],
        env=replica.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return created.stdout.strip()
