"""Build the configured ObjectStore (kept out of mirror/ so that storage stays usable on its own)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from storage.filesystem import FilesystemObjectStore
from storage.objects import ObjectStore
from storage.s3_settings import S3Settings


@dataclass(frozen=True, slots=True)
class StoreChoice:
    backend: Literal["filesystem", "s3"]
    path: Path
    s3: S3Settings | None = None


def open_store(choice: StoreChoice) -> ObjectStore:
    if choice.backend == "s3":
        if choice.s3 is None:
            msg = "the s3 backend needs S3 settings (storage.s3.bucket at least)"
            raise ValueError(msg)
        # boto3 takes a second of CPU to import: only a deployment on S3 pays for it.
        from storage.s3 import S3ObjectStore  # noqa: PLC0415

        return S3ObjectStore(choice.s3)
    return FilesystemObjectStore(choice.path)
