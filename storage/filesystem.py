"""Local-disk object store: the embedded default.

Objects live at `<root>/<k[0:2]>/<k[2:4]>/<key>`. A write lands under a temporary name in the same
directory and is published with an atomic rename, so readers never see a partial object. All blocking
file work runs in the default executor to keep the event loop free.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO, TypeVar

from storage.objects import (
    GrowingFile,
    ObjectInfo,
    ObjectMissing,
    ObjectStoreError,
    validate_document_name,
    validate_document_prefix,
    validate_key,
)

_T = TypeVar("_T")
_READ_CHUNK = 1 << 20
_TEMP_SUFFIX = ".partial"


class FilesystemObjectStore:
    """An ObjectStore on a local directory."""

    def __init__(self, root: Path, *, read_chunk: int = _READ_CHUNK) -> None:
        self._root = root
        self._read_chunk = read_chunk

    @property
    def root(self) -> Path:
        return self._root

    def path_for(self, key: str) -> Path:
        """Where `key` lives on disk (it may not exist)."""
        validate_key(key)
        return self._root / key[0:2] / key[2:4] / key

    async def _run(self, func: Callable[[], _T]) -> _T:
        try:
            return await asyncio.get_running_loop().run_in_executor(None, func)
        except ObjectStoreError:
            raise
        except OSError as exc:
            msg = f"local object store at {self._root}: {exc.strerror or exc}"
            raise ObjectStoreError(msg) from exc

    async def put(self, key: str, source: Path, *, size: int, growing: GrowingFile | None = None) -> None:
        if growing is not None:
            await growing.wait_published()  # a hard link of the finished file: nothing to do before
        await self._run(partial(self._put_sync, self.path_for(key), source, size))

    @staticmethod
    def _put_sync(target: Path, source: Path, size: int) -> None:
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f"{target.name}.{uuid.uuid4().hex}{_TEMP_SUFFIX}")
        try:
            try:
                # A hard link costs nothing when the spool shares the filesystem; copy otherwise.
                os.link(source, temp)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                shutil.copyfile(source, temp)
            if temp.stat().st_size != size:
                msg = f"object {target.name}: wrote {temp.stat().st_size} bytes, expected {size}"
                raise ObjectStoreError(msg)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self.path_for(key)

        def _stat() -> ObjectInfo | None:
            try:
                return ObjectInfo(key=key, size=path.stat().st_size)
            except FileNotFoundError:
                return None

        return await self._run(_stat)

    async def open_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        path = self.path_for(key)
        # Opening, seeking and the first read share one trip to the executor: small files cost one.
        handle, chunk = await self._run(
            partial(self._open_and_read, path, start, min(self._read_chunk, end - start))
        )
        try:
            remaining = end - start
            while remaining > 0:
                if not chunk:
                    msg = f"object {key} ended {remaining} bytes early"
                    raise ObjectStoreError(msg)
                remaining -= len(chunk)
                yield chunk
                if remaining > 0:
                    chunk = await self._run(partial(handle.read, min(self._read_chunk, remaining)))
        finally:
            handle.close()

    async def open_local(self, key: str) -> BinaryIO:
        return await self._run(partial(_open_existing, self.path_for(key)))

    @staticmethod
    def _open_and_read(path: Path, start: int, length: int) -> tuple[BinaryIO, bytes]:
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise ObjectMissing(path.name) from exc
        try:
            handle.seek(start)
            return handle, handle.read(length)
        except BaseException:
            handle.close()
            raise

    async def presign_get(self, key: str, *, expires_s: int) -> str | None:
        return None

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        await self._run(partial(_unlink_if_present, path))

    async def iter_keys(self) -> AsyncIterator[ObjectInfo]:
        infos = await self._run(self._list_sync)
        for info in infos:
            yield info

    def _list_sync(self) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        if not self._root.is_dir():
            return found
        for path in self._root.glob("??/??/*"):
            if path.name.endswith(_TEMP_SUFFIX):
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                found.append(ObjectInfo(key=path.name, size=stat.st_size, modified_at=modified))
        return found

    async def put_document(self, name: str, data: bytes) -> None:
        await self._run(partial(_write_atomically, self._root / validate_document_name(name), data))

    async def get_document(self, name: str) -> bytes | None:
        path = self._root / validate_document_name(name)

        def _read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await self._run(_read)

    async def list_documents(self, prefix: str) -> list[str]:
        folder = self._root / validate_document_prefix(prefix)

        def _list() -> list[str]:
            if not folder.is_dir():
                return []
            return sorted(prefix + path.name for path in folder.iterdir() if path.name.endswith(".json"))

        return await self._run(_list)

    async def close(self) -> None:
        return None  # nothing held open between calls

    async def check(self) -> None:
        def _probe() -> None:
            self._root.mkdir(parents=True, exist_ok=True)
            if not os.access(self._root, os.W_OK):
                msg = f"local object store at {self._root} is not writable"
                raise ObjectStoreError(msg)

        await self._run(_probe)


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f"{target.name}.{uuid.uuid4().hex}{_TEMP_SUFFIX}")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _open_existing(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError as exc:
        raise ObjectMissing(path.name) from exc


def _unlink_if_present(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
