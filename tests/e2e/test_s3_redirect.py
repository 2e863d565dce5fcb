"""Presigned-redirect serving: hubgate answers a 302 to S3 and the client fetches from the store itself."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import hf_hub_download

from tests.e2e.conftest import HubgateFactory
from tests.e2e.cutting_proxy import cutting_proxy
from tests.e2e.http import request
from tests.fakehub import FakeHub, Host
from tests.fakehub.fixtures import ALICE_TOKEN, GATED_MODEL_ID, MODEL_ID
from tests.pg import PostgresServer
from tests.storage.seaweed import SeaweedS3


def test_clients_follow_the_presigned_redirect_without_their_token(
    make_hubgate: HubgateFactory,
    fake_hub: FakeHub,
    seaweedfs: SeaweedS3,
    postgres: PostgresServer,
    tmp_path: Path,
) -> None:
    # Clients reach the store through a recording proxy, so the test sees exactly what they send there.
    with cutting_proxy(seaweedfs.endpoint_url, cut_after_bytes=1 << 40) as (store_url, traffic):
        _check_redirects(make_hubgate, fake_hub, seaweedfs, postgres, tmp_path, store_url)
    sent_to_store = b"".join(traffic.requests)
    assert b"GET /" in sent_to_store
    assert ALICE_TOKEN.encode() not in sent_to_store
    assert b"authorization:" not in sent_to_store.lower()


def _check_redirects(
    make_hubgate: HubgateFactory,
    fake_hub: FakeHub,
    seaweedfs: SeaweedS3,
    postgres: PostgresServer,
    tmp_path: Path,
    store_url: str,
) -> None:
    hubgate = make_hubgate(
        database={"url": postgres.url(postgres.create_database())},
        storage={
            "backend": "s3",
            "serve_mode": "redirect",
            "s3": {
                "bucket": seaweedfs.new_bucket(),
                "endpoint_url": seaweedfs.endpoint_url,
                "addressing_style": "path",
                "access_key_id": seaweedfs.access_key_id,
                "secret_access_key": seaweedfs.secret_access_key,
                "presign_endpoint_url": store_url,
            },
        },
    )
    weights = fake_hub.repo(MODEL_ID).head.files["model.safetensors"]
    answer = request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors")
    assert answer.status == 302
    location = answer.header("Location") or ""
    assert location.startswith(store_url)
    assert answer.header("X-Repo-Commit") == fake_hub.repo(MODEL_ID).head.sha
    assert answer.header("X-Linked-Etag") == f'"{weights.sha256}"'
    assert answer.header("X-Linked-Size") == str(weights.size)

    path = hf_hub_download(MODEL_ID, "model.safetensors", cache_dir=tmp_path / "a", endpoint=hubgate.url)
    assert Path(path).read_bytes() == weights.blob.read(0, weights.size)
    # A gated file with the user's token: the client must drop it for the store's host.
    gated = hf_hub_download(
        GATED_MODEL_ID, "model.safetensors", cache_dir=tmp_path / "b", endpoint=hubgate.url, token=ALICE_TOKEN
    )
    assert Path(gated).stat().st_size == fake_hub.repo(GATED_MODEL_ID).head.files["model.safetensors"].size
    assert all(record.authorization is None for record in fake_hub.log.find(host=Host.CDN))
