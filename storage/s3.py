"""S3 object store: each blob is one object `<prefix><sha256>` in a bucket, written and read through boto3.

boto3 is synchronous, so every call runs in a thread pool owned by the store (as large as botocore's
connection pool) and the event loop never waits on the network. A large blob goes up as a multipart
upload whose parts are read from the spool file by offset, a few in parallel. S3 publishes an object only
when its upload completes, so no reader ever sees a partial one and no temporary keys are needed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.response import StreamingBody

from storage.objects import (
    GrowingFile,
    ObjectInfo,
    ObjectMissing,
    ObjectStoreError,
    validate_document_name,
    validate_document_prefix,
    validate_key,
)
from storage.s3_settings import MiB, S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, ListObjectsV2OutputTypeDef

_T = TypeVar("_T")
logger = logging.getLogger(__name__)

_MAX_PARTS = 10_000
_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
_DENIED = frozenset({"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"})


class S3ObjectStore:
    """An ObjectStore on an S3 bucket. Call `await close()` when done.

    Building the store creates the boto3 client, which reads botocore's data files and the shared AWS
    config from disk: do it at startup, not per request. Credentials are resolved on the first request.
    """

    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(settings.max_pool_connections, thread_name_prefix="s3-store")
        self._client = _make_client(settings, settings.endpoint_url)
        self._presigner = (
            _make_client(settings, settings.presign_endpoint_url)
            if settings.presign_endpoint_url
            else self._client
        )
        self._closed = False

    @property
    def settings(self) -> S3Settings:
        return self._settings

    @property
    def client(self) -> S3Client:
        """The boto3 client, to register event hooks (metrics, tests). Its calls block: not on the loop."""
        return self._client

    async def close(self) -> None:
        """Wait for calls in flight, then release the threads and HTTP connections."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self._client.close()
        if self._presigner is not self._client:
            self._presigner.close()

    def _object_key(self, key: str) -> str:
        return self._settings.prefix + validate_key(key)

    async def _run(self, operation: str, func: Callable[[], _T], *, key: str | None = None) -> _T:
        """Run one blocking call in the store's threads; every failure leaves as an ObjectStoreError."""
        if self._closed:
            raise ObjectStoreError(f"S3 {operation} on bucket {self._settings.bucket!r}: the store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, func)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._failure(operation, exc, key) from exc

    def _failure(self, operation: str, exc: Exception, key: str | None) -> ObjectStoreError:
        # Only the error code and the server's message are quoted: never the request, which is signed.
        where = f"S3 {operation} on bucket {self._settings.bucket!r}"
        if key is not None:
            where += f" key {self._object_key(key)!r}"
        if not isinstance(exc, ClientError):
            return ObjectStoreError(f"{where}: {exc}")
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        if code == "NoSuchKey" or (code in {"404", "NotFound"} and key is not None):
            return ObjectMissing(f"{where}: no such object")
        if code in {"404", "NotFound", "NoSuchBucket"}:
            reason = "the bucket does not exist"
        elif code in _DENIED:
            reason = "access denied: check the credentials and the bucket policy"
        else:
            reason = str(error.get("Message") or "request failed")
        return ObjectStoreError(f"{where}: {reason} ({code}, HTTP {status})")

    async def put(self, key: str, source: Path, *, size: int, growing: GrowingFile | None = None) -> None:
        existing = await self.stat(key)
        if existing is not None:
            if existing.size == size:
                if growing is not None:
                    await growing.wait_published()
                return
            # Same sha256, different size: the stored copy is damaged. The verified spool file wins.
            logger.warning(
                "replacing object %s in bucket %s: %d bytes stored, %d expected",
                key,
                self._settings.bucket,
                existing.size,
                size,
            )
        if size < self._settings.multipart_threshold:
            if growing is not None:
                await growing.wait_published()
            await self._run("PutObject", partial(self._put_single_sync, key, source, size), key=key)
        else:
            await self._put_multipart(key, source, size, growing)

    def _object_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"ContentType": "application/octet-stream"}
        if self._settings.server_side_encryption:
            args["ServerSideEncryption"] = self._settings.server_side_encryption
        if self._settings.sse_kms_key_id:
            args["SSEKMSKeyId"] = self._settings.sse_kms_key_id
        return args

    def _put_single_sync(self, key: str, source: Path, size: int) -> None:
        args = self._object_args()
        if self._settings.checksum_sha256:
            # The key is the body's sha256, so the server verifies the content against its own name.
            args["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(key)).decode()
        with source.open("rb") as body:
            _check_size(body, source, size)
            self._client.put_object(
                Bucket=self._settings.bucket, Key=self._object_key(key), Body=body, ContentLength=size, **args
            )

    async def _put_multipart(self, key: str, source: Path, size: int, growing: GrowingFile | None) -> None:
        """Parts go up as their bytes are final (all at once for a finished file); the upload completes,
        making the object visible, only once `growing` is published; any failure aborts it."""
        args = self._object_args()
        if self._settings.checksum_sha256:
            args["ChecksumAlgorithm"] = "SHA256"
        bucket, s3_key = self._settings.bucket, self._object_key(key)
        created = await self._run(
            "CreateMultipartUpload",
            partial(self._client.create_multipart_upload, Bucket=bucket, Key=s3_key, **args),
            key=key,
        )
        upload_id = created["UploadId"]
        try:
            parts = await self._upload_parts(key, upload_id, source, size, growing)
            if growing is not None:
                await growing.wait_published()
            await self._run(
                "CompleteMultipartUpload",
                partial(
                    self._client.complete_multipart_upload,
                    Bucket=bucket,
                    Key=s3_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                ),
                key=key,
            )
        except BaseException:
            # Parts of an abandoned upload are billed and invisible; abort even when cancelled.
            await self._abort(key, upload_id)
            raise

    async def _upload_parts(
        self, key: str, upload_id: str, source: Path, size: int, growing: GrowingFile | None
    ) -> list[CompletedPartTypeDef]:
        in_flight: set[asyncio.Task[CompletedPartTypeDef]] = set()
        parts: list[CompletedPartTypeDef] = []
        try:
            for number, offset, length in _plan_parts(size, self._settings.part_size):
                if len(in_flight) >= self._settings.max_concurrency:
                    done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    parts.extend(_results(done))
                if growing is not None:
                    await growing.wait_final(offset + length)
                upload = partial(
                    self._upload_part_sync,
                    key,
                    upload_id,
                    number=number,
                    source=source,
                    offset=offset,
                    length=length,
                )
                in_flight.add(asyncio.create_task(self._run("UploadPart", upload, key=key)))
            done, in_flight = await asyncio.wait(in_flight)
            parts.extend(_results(done))
        except BaseException:
            # A part still uploading would land after the abort and stay stored: let those finish first.
            if in_flight:
                await asyncio.wait(in_flight)
                _results(in_flight, raise_first=False)
            raise
        return sorted(parts, key=lambda part: part["PartNumber"])

    def _upload_part_sync(
        self, key: str, upload_id: str, *, number: int, source: Path, offset: int, length: int
    ) -> CompletedPartTypeDef:
        with source.open("rb") as handle:
            _check_size(handle, source, None, at_least=offset + length)
            window = _FileWindow(handle, offset, length)
            extra: dict[str, Any] = {}
            if self._settings.checksum_sha256:
                extra["ChecksumSHA256"] = _sha256_b64(window)
            response = self._client.upload_part(
                Bucket=self._settings.bucket,
                Key=self._object_key(key),
                UploadId=upload_id,
                PartNumber=number,
                Body=cast("BinaryIO", window),  # botocore needs only read, seek and tell
                ContentLength=length,
                **extra,
            )
        part: CompletedPartTypeDef = {"PartNumber": number, "ETag": response["ETag"]}
        if "ChecksumSHA256" in extra:
            part["ChecksumSHA256"] = extra["ChecksumSHA256"]
        return part

    async def _abort(self, key: str, upload_id: str) -> None:
        abort = partial(
            self._client.abort_multipart_upload,
            Bucket=self._settings.bucket,
            Key=self._object_key(key),
            UploadId=upload_id,
        )
        try:
            await self._run("AbortMultipartUpload", abort, key=key)
        except ObjectStoreError as exc:
            logger.warning("%s; its parts stay until a lifecycle rule removes incomplete uploads", exc)

    async def stat(self, key: str) -> ObjectInfo | None:
        head = partial(self._client.head_object, Bucket=self._settings.bucket, Key=self._object_key(key))
        try:
            response = await self._run("HeadObject", head, key=key)
        except ObjectMissing:  # a HEAD 404 has no body: a missing bucket looks the same (check() tells)
            return None
        return ObjectInfo(key=key, size=response["ContentLength"])

    async def open_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        self._object_key(key)
        if end <= start:
            return
        # The request and the first read share one trip to the threads: small ranges cost one.
        body, chunk = await self._run("GetObject", partial(self._open_sync, key, start, end), key=key)
        ahead: asyncio.Future[bytes] | None = None
        try:
            remaining = end - start
            while remaining > 0:
                if not chunk:
                    raise ObjectStoreError(f"object {key} in bucket {self._settings.bucket!r} ended early")
                remaining -= len(chunk)
                # Read ahead: the next chunk comes from S3 while the consumer sends this one on.
                ahead = None
                if remaining > 0:
                    read = partial(body.read, min(self._settings.read_chunk, remaining))
                    ahead = asyncio.ensure_future(self._run("GetObject", read, key=key))
                yield chunk
                if ahead is not None:
                    chunk = await ahead
        finally:
            if ahead is not None:
                # A read in a worker thread cannot be interrupted: let it end before the body closes
                # under it (one chunk at most). An abandoned read-ahead's failure is not news.
                await asyncio.wait([ahead])
                if not ahead.cancelled():
                    ahead.exception()
            # Closing a half-read body drops its connection instead of draining it: a cheap socket close,
            # fine on the loop, and it must happen even when the consumer walked away.
            body.close()

    def _open_sync(self, key: str, start: int, end: int) -> tuple[StreamingBody, bytes]:
        response = self._client.get_object(
            Bucket=self._settings.bucket, Key=self._object_key(key), Range=f"bytes={start}-{end - 1}"
        )
        body = response["Body"]
        # A server that ignored the Range header sends the whole object, from its first byte.
        served = response.get("ContentRange", "")
        if start and not served.startswith(f"bytes {start}-"):
            body.close()
            raise ObjectStoreError(f"object {key}: asked for bytes from {start}, got {served!r}")
        try:
            return body, body.read(min(self._settings.read_chunk, end - start))
        except BaseException:
            body.close()
            raise

    async def presign_get(self, key: str, *, expires_s: int) -> str | None:
        s3_key = self._object_key(key)
        if self._settings.presign_expires_s == 0:
            return None
        if expires_s < 1:
            raise ValueError(f"expires_s must be positive, got {expires_s}")
        sign = partial(
            self._presigner.generate_presigned_url,
            "get_object",
            Params={"Bucket": self._settings.bucket, "Key": s3_key},
            ExpiresIn=min(expires_s, self._settings.presign_expires_s),
        )
        # Signing is local, but the first call may fetch credentials (instance role, web identity).
        return await self._run("PresignGetObject", sign, key=key)

    async def delete(self, key: str) -> None:
        delete = partial(self._client.delete_object, Bucket=self._settings.bucket, Key=self._object_key(key))
        await self._run("DeleteObject", delete, key=key)

    async def iter_keys(self) -> AsyncIterator[ObjectInfo]:
        pages = await self._run("ListObjectsV2", self._pages)
        prefix = self._settings.prefix
        while (page := await self._run("ListObjectsV2", partial(next, pages, None))) is not None:
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                # Anything else under the prefix (an operator's note, another tool's files) is not ours.
                if _SHA256_NAME.fullmatch(name):
                    yield ObjectInfo(key=name, size=item["Size"], modified_at=item.get("LastModified"))

    def _pages(self) -> Iterator[ListObjectsV2OutputTypeDef]:
        paginator = self._client.get_paginator("list_objects_v2")
        return iter(
            paginator.paginate(
                Bucket=self._settings.bucket,
                Prefix=self._settings.prefix,
                PaginationConfig={"PageSize": self._settings.list_page_size},
            )
        )

    async def put_document(self, name: str, data: bytes) -> None:
        # Under the store's own prefix (where its credentials reach), beside the blobs: a name with a
        # `/` is never a sha256, so blob listings skip it.
        s3_key = self._settings.prefix + validate_document_name(name)
        args = self._object_args() | {"ContentType": "application/json"}
        if self._settings.checksum_sha256:
            args["ChecksumSHA256"] = base64.b64encode(hashlib.sha256(data).digest()).decode()
        put = partial(self._client.put_object, Bucket=self._settings.bucket, Key=s3_key, Body=data, **args)
        await self._run("PutObject", put)

    async def get_document(self, name: str) -> bytes | None:
        s3_key = self._settings.prefix + validate_document_name(name)

        def _get() -> bytes | None:
            try:
                response = self._client.get_object(Bucket=self._settings.bucket, Key=s3_key)
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) in {"NoSuchKey", "404", "NotFound"}:
                    return None
                raise
            with contextlib.closing(response["Body"]) as body:
                return bytes(body.read())

        return await self._run("GetObject", _get)

    async def list_documents(self, prefix: str) -> list[str]:
        full = self._settings.prefix + validate_document_prefix(prefix)

        def _list() -> list[str]:
            paginator = self._client.get_paginator("list_objects_v2")
            names = []
            for page in paginator.paginate(Bucket=self._settings.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self._settings.prefix) :]
                    if name.endswith(".json") and "/" not in name[len(prefix) :]:
                        names.append(name)
            return sorted(names)

        return await self._run("ListObjectsV2", _list)

    async def check(self) -> None:
        # HeadBucket proves the endpoint, the credentials and the bucket; it cannot prove PutObject rights.
        await self._run("HeadBucket", partial(self._client.head_bucket, Bucket=self._settings.bucket))


def _make_client(settings: S3Settings, endpoint_url: str | None) -> S3Client:
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        aws_session_token=settings.session_token,
        region_name=settings.region,
    )
    config = Config(
        signature_version="s3v4",  # also for presigned URLs, where botocore may still pick SigV2
        s3={"addressing_style": settings.addressing_style},
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        max_pool_connections=settings.max_pool_connections,
        request_checksum_calculation="when_supported" if settings.checksum_sha256 else "when_required",
        # Reads are always ranged, where S3 has no checksum to compare; blobs were verified on the way in.
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def _plan_parts(size: int, part_size: int) -> Iterator[tuple[int, int, int]]:
    """(part number, offset, length) for each part; parts grow for objects beyond 10,000 of them."""
    part_size = max(part_size, -(-size // _MAX_PARTS))
    for number, offset in enumerate(range(0, size, part_size), start=1):
        yield number, offset, min(part_size, size - offset)


def _results(done: Iterable[asyncio.Task[_T]], *, raise_first: bool = True) -> list[_T]:
    """The tasks' results; every exception is retrieved (no 'never retrieved' noise), the first raised."""
    finished = [task for task in done if not task.cancelled()]
    errors = [exc for task in finished if (exc := task.exception()) is not None]
    if errors and raise_first:
        raise errors[0]
    return [task.result() for task in finished if task.exception() is None]


def _check_size(handle: BinaryIO, source: Path, size: int | None, *, at_least: int = 0) -> None:
    actual = os.fstat(handle.fileno()).st_size
    if (size is not None and actual != size) or actual < at_least:
        raise ObjectStoreError(f"spool file {source} has {actual} bytes, expected {size or at_least}")


def _sha256_b64(window: _FileWindow) -> str:
    digest = hashlib.sha256()
    while chunk := window.read(MiB):
        digest.update(chunk)
    window.seek(0)
    return base64.b64encode(digest.digest()).decode()


class _FileWindow:
    """`length` bytes of an open file from `offset`, as a seekable stream that starts at 0.

    botocore rewinds a body with seek(0) before retrying, so handing it the bare file positioned at the
    part's offset would resend the file from its first byte.
    """

    def __init__(self, handle: BinaryIO, offset: int, length: int) -> None:
        self._handle = handle
        self._offset = offset
        self._length = length
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        left = self._length - self._position
        count = left if size < 0 else min(size, left)
        if count <= 0:
            return b""
        self._handle.seek(self._offset + self._position)
        data = self._handle.read(count)
        self._position += len(data)
        return data

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._length}[whence]
        self._position = min(max(base + position, 0), self._length)
        return self._position

    def tell(self) -> int:
        return self._position
