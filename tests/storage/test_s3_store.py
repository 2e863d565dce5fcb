"""S3-specific behaviour of S3ObjectStore, against a real SeaweedFS server (see seaweed.py).

What the store sends is observed through botocore's event hooks on the store's own client; what the
server did is observed with a separate plain client.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectionClosedError
from yarl import URL

from storage.objects import GrowingFile, ObjectDiscarded, ObjectMissing, ObjectStoreError
from storage.s3 import S3ObjectStore
from storage.s3_settings import MiB, S3Settings
from tests.ports import free_ports
from tests.storage.seaweed import SeaweedS3

MakeStore = Callable[..., S3ObjectStore]


@dataclass(frozen=True)
class Sent:
    operation: str
    url: str
    headers: dict[str, str]
    body: bytes


def record(store: S3ObjectStore, *operations: str) -> list[Sent]:
    """Every request the store sends for `operations` (one entry per attempt)."""
    sent: list[Sent] = []

    def on_send(request: AWSPreparedRequest, event_name: str, **_: Any) -> None:
        headers = {name.lower(): _text(value) for name, value in request.headers.items()}
        body = request.body if isinstance(request.body, bytes) else b""
        sent.append(Sent(event_name.rsplit(".", 1)[-1], request.url, headers, body))

    for operation in operations:
        store.client.meta.events.register(f"before-send.s3.{operation}", on_send)
    return sent


def _text(value: object) -> str:
    # botocore keeps signed header values as bytes, whatever its type hints say.
    return value.decode() if isinstance(value, bytes) else str(value)


def blob(tmp_path: Path, size: int, name: str = "spool") -> tuple[Path, str, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), data


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


async def read(store: S3ObjectStore, key: str, start: int, end: int) -> bytes:
    return b"".join([chunk async for chunk in store.open_range(key, start, end)])


@pytest.fixture
def bucket(seaweedfs: SeaweedS3) -> str:
    return seaweedfs.new_bucket()


@pytest.fixture
async def make_store(seaweedfs: SeaweedS3, bucket: str) -> AsyncIterator[MakeStore]:
    """Stores on this test's bucket; keyword arguments override S3Settings fields."""
    stores: list[S3ObjectStore] = []

    def make(**overrides: Any) -> S3ObjectStore:
        store = S3ObjectStore(seaweedfs.settings(bucket, **overrides))
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


def uploads_in_progress(seaweedfs: SeaweedS3, bucket: str) -> list[str]:
    client = seaweedfs.client()
    try:
        return [upload["Key"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    finally:
        client.close()


MULTIPART = {"multipart_threshold": 5 * MiB, "part_size": 5 * MiB}


async def test_multipart_upload_sends_part_checksums_and_completes(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    store = make_store(**MULTIPART, max_concurrency=3)
    sent = record(store, "UploadPart", "CompleteMultipartUpload")
    lock, uploading, peak = threading.Lock(), 0, 0

    def part_started(**_: Any) -> None:
        nonlocal uploading, peak
        with lock:
            uploading += 1
            peak = max(peak, uploading)

    def part_finished(**_: Any) -> None:
        nonlocal uploading
        with lock:
            uploading -= 1

    store.client.meta.events.register("before-parameter-build.s3.UploadPart", part_started)
    store.client.meta.events.register("after-call.s3.UploadPart", part_finished)
    source, key, data = blob(tmp_path, 3 * 5 * MiB + 12_345)

    await store.put(key, source, size=len(data))

    assert await read(store, key, 0, len(data)) == data
    assert 1 < peak <= 3, "parts go up in parallel, at most max_concurrency at once"
    parts = sorted((s for s in sent if s.operation == "UploadPart"), key=lambda s: int(s.url.split("=")[-1]))
    assert len(parts) == 4
    for number, part in enumerate(parts):
        body = data[number * 5 * MiB : (number + 1) * 5 * MiB]
        assert part.headers["x-amz-checksum-sha256"] == b64_sha256(body)
        assert part.headers["content-length"] == str(len(body))
        assert not any(name.startswith("x-amz-checksum-crc") for name in part.headers)
    (complete,) = (s for s in sent if s.operation == "CompleteMultipartUpload")
    assert complete.body.count(b"<ChecksumSHA256>") == 4
    client = seaweedfs.client()
    head = client.head_object(Bucket=bucket, Key=f"blobs/{key}", ChecksumMode="ENABLED")
    client.close()
    assert head["ContentLength"] == len(data)
    assert head["ChecksumSHA256"].endswith("-4"), "a composite checksum over the 4 part checksums"
    assert uploads_in_progress(seaweedfs, bucket) == []


async def test_failed_part_aborts_the_upload(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    store = make_store(**MULTIPART, max_concurrency=2)

    def fail_third_part(params: dict[str, Any], **_: Any) -> None:
        if params["PartNumber"] == 3:
            raise ConnectionClosedError(endpoint_url="injected failure")

    store.client.meta.events.register("before-parameter-build.s3.UploadPart", fail_third_part)
    source, key, data = blob(tmp_path, 4 * 5 * MiB)

    with pytest.raises(ObjectStoreError, match=r"UploadPart on bucket .* key 'blobs/[0-9a-f]{64}'"):
        await store.put(key, source, size=len(data))

    assert await store.stat(key) is None
    assert uploads_in_progress(seaweedfs, bucket) == []


async def test_cancelled_upload_is_aborted_after_its_parts_finish(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    store = make_store(**MULTIPART, max_concurrency=2)
    second_part_started = threading.Event()

    def slow_second_part(params: dict[str, Any], **_: Any) -> None:
        if params["PartNumber"] == 2:
            second_part_started.set()
            time.sleep(0.3)

    store.client.meta.events.register("before-parameter-build.s3.UploadPart", slow_second_part)
    source, key, data = blob(tmp_path, 3 * 5 * MiB)
    upload = asyncio.create_task(store.put(key, source, size=len(data)))
    assert await asyncio.to_thread(second_part_started.wait, 10)
    upload.cancel()

    with pytest.raises(asyncio.CancelledError):
        await upload

    assert await store.stat(key) is None
    assert uploads_in_progress(seaweedfs, bucket) == []


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"never happened: {what}")


def count_calls(store: S3ObjectStore, operation: str) -> list[int]:
    """A one-element list holding how many `operation` calls have completed (updated from the threads)."""
    done = [0]

    def finished(**_: Any) -> None:
        done[0] += 1

    store.client.meta.events.register(f"after-call.s3.{operation}", finished)
    return done


async def test_a_growing_file_goes_up_as_it_grows_and_appears_only_once_published(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    store = make_store(**MULTIPART, max_concurrency=2)
    parts_done, completes = count_calls(store, "UploadPart"), count_calls(store, "CompleteMultipartUpload")
    data = os.urandom(3 * 5 * MiB + 4321)
    key = hashlib.sha256(data).hexdigest()
    source = tmp_path / "spool"
    source.write_bytes(data[: 2 * 5 * MiB])  # the download has got this far
    growing = GrowingFile()
    put = asyncio.create_task(store.put(key, source, size=len(data), growing=growing))
    growing.grew(2 * 5 * MiB)

    await _until(lambda: parts_done[0] == 2, "the two final parts went up")
    await asyncio.sleep(0.2)  # time to go further, if it wrongly would
    assert parts_done[0] == 2, "nothing beyond the final bytes is read"
    assert completes[0] == 0
    assert await store.stat(key) is None
    assert uploads_in_progress(seaweedfs, bucket) == [f"blobs/{key}"]

    with source.open("ab") as spool:
        spool.write(data[2 * 5 * MiB :])
    growing.grew(len(data))
    await asyncio.sleep(0.2)
    assert completes[0] == 0, "all bytes are there, but the file is not verified yet"
    growing.publish()
    await put

    assert parts_done[0] == 4
    assert await read(store, key, 0, len(data)) == data
    assert uploads_in_progress(seaweedfs, bucket) == []


@pytest.mark.parametrize("size", [3 * 5 * MiB, 5 * MiB - 1], ids=["multipart", "single"])
async def test_a_discarded_growing_file_leaves_nothing(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path, size: int
) -> None:
    store = make_store(**MULTIPART)
    sent = record(store, "PutObject", "UploadPart", "CompleteMultipartUpload")
    source, key, _ = blob(tmp_path, size)
    growing = GrowingFile()
    put = asyncio.create_task(store.put(key, source, size=size, growing=growing))
    growing.grew(min(size, 5 * MiB))
    if size >= 5 * MiB:
        await _until(lambda: any(s.operation == "UploadPart" for s in sent), "the first part went up")
    else:
        await asyncio.sleep(0.2)

    growing.discard()  # its digest failed

    with pytest.raises(ObjectDiscarded):
        await put
    assert await store.stat(key) is None
    assert uploads_in_progress(seaweedfs, bucket) == []
    assert not any(s.operation in ("PutObject", "CompleteMultipartUpload") for s in sent)


async def test_prefix_is_honoured_and_foreign_names_are_not_listed(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    store = make_store(prefix="hub/objects/")
    source, key, _ = blob(tmp_path, 100)
    await store.put(key, source, size=100)
    other = hashlib.sha256(b"other").hexdigest()
    client = seaweedfs.client()
    for foreign in ("hub/objects/README", f"hub/objects/sub/{other}", f"elsewhere/{other}", other):
        client.put_object(Bucket=bucket, Key=foreign, Body=b"not ours")

    assert [(info.key, info.size) async for info in store.iter_keys()] == [(key, 100)]
    assert await store.stat(other) is None
    assert client.head_object(Bucket=bucket, Key=f"hub/objects/{key}")["ContentLength"] == 100
    client.close()


async def test_listing_follows_pages(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store(list_page_size=2)
    sent = record(store, "ListObjectsV2")
    keys = set()
    for number in range(5):
        source, key, _ = blob(tmp_path, 10 + number, name=f"spool{number}")
        await store.put(key, source, size=10 + number)
        keys.add(key)

    assert {info.key async for info in store.iter_keys()} == keys
    assert len(sent) == 3


async def test_presigned_url_needs_no_credentials_and_cannot_be_altered(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    store = make_store()
    source, key, data = blob(tmp_path, 1000)
    await store.put(key, source, size=1000)
    other_source, other_key, _ = blob(tmp_path, 10, name="other")
    await store.put(other_key, other_source, size=10)

    url = await store.presign_get(key, expires_s=60)
    assert url is not None
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=60" in url
    assert seaweedfs.secret_access_key not in url
    async with aiohttp.ClientSession() as http:

        async def fetch(target: str) -> tuple[int, bytes]:
            async with http.get(URL(target, encoded=True)) as response:
                return response.status, await response.read()

        assert await fetch(url) == (200, data)
        assert (await fetch(url.replace(key, other_key)))[0] == 403
        signature_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
        forged = url[:signature_at] + ("0" if url[signature_at] != "0" else "1") + url[signature_at + 1 :]
        assert (await fetch(forged))[0] == 403
        assert (await fetch(f"{seaweedfs.endpoint_url}/{bucket}/blobs/{key}"))[0] == 403, "no anonymous reads"
        short_lived = await store.presign_get(key, expires_s=1)
        assert short_lived is not None
        await asyncio.sleep(2.1)
        assert (await fetch(short_lived))[0] == 403


async def test_presign_lifetime_is_capped_and_presigning_can_be_disabled(make_store: MakeStore) -> None:
    key = "a" * 64
    url = await make_store(presign_expires_s=30).presign_get(key, expires_s=3600)
    assert url is not None
    assert "X-Amz-Expires=30&" in url
    assert await make_store(presign_expires_s=0).presign_get(key, expires_s=60) is None


async def test_presigned_urls_can_name_the_endpoint_clients_see(
    make_store: MakeStore, seaweedfs: SeaweedS3, tmp_path: Path
) -> None:
    public = seaweedfs.endpoint_url.replace("127.0.0.1", "localhost")
    store = make_store(presign_endpoint_url=public)
    source, key, data = blob(tmp_path, 500)
    await store.put(key, source, size=500)

    url = await store.presign_get(key, expires_s=60)

    assert url is not None
    assert url.startswith(f"{public}/")
    async with aiohttp.ClientSession() as http, http.get(URL(url, encoded=True)) as response:
        assert response.status == 200
        assert await response.read() == data


async def test_wrong_credentials_are_a_clear_error_without_the_secret(
    seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    wrong = "wrong-secret-0123456789"
    store = S3ObjectStore(seaweedfs.settings(bucket, secret_access_key=wrong))
    source, key, _ = blob(tmp_path, 10)
    try:
        with pytest.raises(
            ObjectStoreError, match=f"HeadBucket on bucket '{bucket}': access denied"
        ) as checked:
            await store.check()
        with pytest.raises(ObjectStoreError, match="access denied") as put:
            await store.put(key, source, size=10)
    finally:
        await store.close()
    for error in (checked.value, put.value):
        assert wrong not in str(error)
        assert seaweedfs.secret_access_key not in str(error)
    assert wrong not in repr(store.settings)


async def test_missing_bucket_is_not_a_missing_object(seaweedfs: SeaweedS3, tmp_path: Path) -> None:
    store = S3ObjectStore(seaweedfs.settings("no-such-bucket-here"))
    source, key, _ = blob(tmp_path, 10)
    try:
        with pytest.raises(ObjectStoreError, match="bucket does not exist"):
            await store.check()
        with pytest.raises(ObjectStoreError, match="bucket does not exist") as put:
            await store.put(key, source, size=10)
        with pytest.raises(ObjectStoreError, match="bucket does not exist") as got:
            await read(store, key, 0, 1)
    finally:
        await store.close()
    assert not isinstance(put.value, ObjectMissing)
    assert not isinstance(got.value, ObjectMissing)


async def test_unreachable_endpoint_fails_fast(seaweedfs: SeaweedS3) -> None:
    (closed_port,) = free_ports(1)
    store = S3ObjectStore(
        seaweedfs.settings(endpoint_url=f"http://127.0.0.1:{closed_port}", connect_timeout_s=0.5)
    )
    started = time.monotonic()
    try:
        with pytest.raises(ObjectStoreError, match=r"HeadBucket on bucket .*: Could not connect"):
            await store.check()
    finally:
        await store.close()
    assert time.monotonic() - started < 5


async def test_silent_endpoint_times_out(seaweedfs: SeaweedS3) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        store = S3ObjectStore(seaweedfs.settings(endpoint_url=endpoint, read_timeout_s=0.5, max_attempts=1))
        started = time.monotonic()
        try:
            with pytest.raises(ObjectStoreError, match=r"HeadBucket on bucket .*: Read timeout"):
                await store.check()
        finally:
            await store.close()
    assert time.monotonic() - started < 5


async def test_stream_closed_early_releases_its_connection(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store(read_chunk=MiB)
    source, key, data = blob(tmp_path, 6 * MiB)
    await store.put(key, source, size=len(data))
    responses: list[Any] = []

    def on_response(http_response: AWSResponse, **_: Any) -> None:
        responses.append(http_response.raw)

    store.client.meta.events.register("after-call.s3.GetObject", on_response)

    stream = cast(AsyncGenerator[bytes, None], store.open_range(key, 0, len(data)))
    assert await anext(stream) == data[:MiB]
    await stream.aclose()  # what a disconnecting client's handler does

    (raw,) = responses
    assert raw.closed
    assert raw.tell() < len(data), "the rest of the range was not drained"
    assert await read(store, key, 0, len(data)) == data


async def test_ranges_outside_the_object(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    sent = record(store, "GetObject")
    source, key, _ = blob(tmp_path, 100)
    await store.put(key, source, size=100)

    assert await read(store, key, 50, 50) == b""
    assert sent == [], "an empty range costs no request"
    with pytest.raises(ObjectStoreError, match="ended early"):
        await read(store, key, 90, 110)
    with pytest.raises(ObjectStoreError, match="InvalidRange") as beyond:
        await read(store, key, 200, 300)
    assert not isinstance(beyond.value, ObjectMissing)


async def test_sse_s3_is_requested_and_applied(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    store = make_store(**MULTIPART, server_side_encryption="AES256")
    sent = record(store, "PutObject", "CreateMultipartUpload")
    small_source, small_key, _ = blob(tmp_path, 100, name="small")
    large_source, large_key, large = blob(tmp_path, 6 * MiB, name="large")

    await store.put(small_key, small_source, size=100)
    await store.put(large_key, large_source, size=len(large))

    assert [(s.operation, s.headers["x-amz-server-side-encryption"]) for s in sent] == [
        ("PutObject", "AES256"),
        ("CreateMultipartUpload", "AES256"),
    ]
    client = seaweedfs.client()
    for key in (small_key, large_key):
        assert client.head_object(Bucket=bucket, Key=f"blobs/{key}")["ServerSideEncryption"] == "AES256"
    client.close()
    assert await read(store, large_key, 0, len(large)) == large


async def test_sse_kms_is_requested_and_seaweedfs_without_kms_refuses_it(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    # On AWS this stores the objects under the key; `weed mini` has no KMS provider and answers 500.
    store = make_store(
        **MULTIPART, server_side_encryption="aws:kms", sse_kms_key_id="alias/hubgate", max_attempts=1
    )
    sent = record(store, "PutObject", "CreateMultipartUpload")
    small_source, small_key, _ = blob(tmp_path, 100, name="small")
    large_source, large_key, large = blob(tmp_path, 6 * MiB, name="large")

    with pytest.raises(ObjectStoreError, match=r"PutObject .*InternalError"):
        await store.put(small_key, small_source, size=100)
    with pytest.raises(ObjectStoreError, match=r"UploadPart .*InternalError"):
        await store.put(large_key, large_source, size=len(large))

    for request in sent:
        assert request.headers["x-amz-server-side-encryption"] == "aws:kms"
        assert request.headers["x-amz-server-side-encryption-aws-kms-key-id"] == "alias/hubgate"
    assert [s.operation for s in sent] == ["PutObject", "CreateMultipartUpload"]
    assert uploads_in_progress(seaweedfs, bucket) == []


async def test_server_rejects_a_body_that_does_not_match_its_key(
    make_store: MakeStore, tmp_path: Path
) -> None:
    store = make_store()
    source, _, _ = blob(tmp_path, 100)
    wrong_key = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(ObjectStoreError, match="BadDigest"):
        await store.put(wrong_key, source, size=100)
    assert await store.stat(wrong_key) is None


async def test_checksums_can_be_turned_off(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store(**MULTIPART, checksum_sha256=False)
    sent = record(store, "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")
    small_source, small_key, small = blob(tmp_path, 100, name="small")
    large_source, large_key, large = blob(tmp_path, 6 * MiB, name="large")

    await store.put(small_key, small_source, size=100)
    await store.put(large_key, large_source, size=len(large))

    assert len(sent) == 5
    for request in sent:
        assert not [name for name in request.headers if "checksum" in name], request.operation
        assert b"Checksum" not in request.body
    assert await read(store, small_key, 0, 100) == small
    assert await read(store, large_key, 0, len(large)) == large


async def test_put_skips_a_stored_object_and_replaces_a_damaged_one(
    make_store: MakeStore, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    store = make_store()
    sent = record(store, "PutObject")
    source, key, data = blob(tmp_path, 1000)
    await store.put(key, source, size=1000)
    await store.put(key, source, size=1000)
    assert len(sent) == 1
    # The key is the body's sha256: sent as its checksum, the server checks the body against the name.
    assert sent[0].headers["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(key)).decode()
    assert not any(name.startswith("x-amz-checksum-crc") for name in sent[0].headers)

    client = seaweedfs.client()
    client.put_object(Bucket=bucket, Key=f"blobs/{key}", Body=b"truncated")
    client.close()
    await store.put(key, source, size=1000)
    assert len(sent) == 2
    assert await read(store, key, 0, 1000) == data


async def test_closed_store_refuses_work(make_store: MakeStore) -> None:
    store = make_store()
    await store.close()
    await store.close()
    with pytest.raises(ObjectStoreError, match="closed"):
        await store.check()


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"part_size": MiB}, "part_size"),
        ({"access_key_id": "AKID"}, "go together"),
        ({"sse_kms_key_id": "alias/x"}, "aws:kms"),
        ({"max_concurrency": 64}, "max_concurrency"),
        ({"presign_expires_s": 8 * 24 * 3600}, "presign_expires_s"),
    ],
)
def test_settings_are_checked(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        S3Settings(bucket="b", **overrides)


def test_settings_repr_hides_secrets() -> None:
    settings = S3Settings(bucket="b", access_key_id="AKID", secret_access_key="s3cr3t", session_token="t0k3n")
    assert "s3cr3t" not in repr(settings)
    assert "t0k3n" not in repr(settings)
