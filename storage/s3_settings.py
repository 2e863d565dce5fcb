"""Settings of the S3 object store, kept apart from the store itself so that reading the configuration
does not import boto3 (the command line's quick commands, and every deployment on the disk store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MiB = 1 << 20
_MIN_PART = 5 * MiB  # S3's smallest part, except the last one
_MAX_PART = 5 * 1024 * MiB  # also the largest single PutObject
_MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where and how the S3 store keeps objects. Credentials left as None come from boto3's default
    chain (environment, web identity / IRSA, instance role, shared config)."""

    bucket: str
    prefix: str = "blobs/"
    endpoint_url: str | None = None  # None for AWS; set for MinIO, SeaweedFS, Ceph...
    region: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    server_side_encryption: Literal["AES256", "aws:kms"] | None = None
    sse_kms_key_id: str | None = None
    # Send each body's SHA-256 so the server rejects corrupted uploads. Off: send no checksum at all,
    # for servers that reject the flexible-checksum headers newer botocore adds by default.
    checksum_sha256: bool = True
    multipart_threshold: int = 64 * MiB
    part_size: int = 64 * MiB
    max_concurrency: int = 4  # parts of one upload in flight
    max_pool_connections: int = 16  # threads of the store's executor and botocore's HTTP connections
    presign_expires_s: int = 3600  # upper bound on presigned URL lifetimes; 0 disables presigning
    presign_endpoint_url: str | None = None  # the endpoint as clients see it, when it differs
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_attempts: int = 5  # botocore "standard" retries, first attempt included
    read_chunk: int = MiB
    list_page_size: int = 1000

    def __post_init__(self) -> None:
        problems = []
        if (self.access_key_id is None) != (self.secret_access_key is None):
            problems.append("access_key_id and secret_access_key go together")
        if self.sse_kms_key_id is not None and self.server_side_encryption != "aws:kms":
            problems.append('sse_kms_key_id needs server_side_encryption="aws:kms"')
        if not _MIN_PART <= self.part_size <= _MAX_PART:
            problems.append(f"part_size must be between {_MIN_PART} and {_MAX_PART} bytes")
        if not 1 <= self.multipart_threshold <= _MAX_PART:
            problems.append(f"multipart_threshold must be between 1 and {_MAX_PART} bytes")
        if not 1 <= self.max_concurrency <= self.max_pool_connections:
            problems.append("max_concurrency must be between 1 and max_pool_connections")
        if not 0 <= self.presign_expires_s <= _MAX_PRESIGN_S:
            problems.append(f"presign_expires_s must be between 0 and {_MAX_PRESIGN_S}")
        if self.read_chunk < 1 or self.list_page_size < 1 or self.max_attempts < 1:
            problems.append("read_chunk, list_page_size and max_attempts must be positive")
        if problems:
            raise ValueError("invalid S3 settings: " + "; ".join(problems))
