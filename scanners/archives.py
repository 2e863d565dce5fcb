"""Zip and tar containers: structural checks (traversal, links, bombs, header tricks) and a scan of every
member by its content. PyTorch, TorchScript and Keras archives get their format-specific handling from
``pytorch`` and ``keras``; the member checks here apply to all of them."""

from __future__ import annotations

import functools
import itertools
import re
import stat
import tarfile
import zlib
from typing import TYPE_CHECKING

from . import keras, pytorch
from .blobs import Blob
from .formats import FileFormat, sniff
from .limits import LimitExceeded, MalformedInput
from .rules import (
    ARCHIVE_ABSOLUTE,
    ARCHIVE_BOMB,
    ARCHIVE_CRC,
    ARCHIVE_DUPLICATE,
    ARCHIVE_ENCRYPTED,
    ARCHIVE_FLAGS,
    ARCHIVE_HEADER_MISMATCH,
    ARCHIVE_LINK,
    ARCHIVE_METHOD,
    ARCHIVE_OVERLAP,
    ARCHIVE_PREPENDED,
    ARCHIVE_SPECIAL,
    ARCHIVE_TRAVERSAL,
    ARCHIVE_UNSCANNABLE,
)
from .zipread import BZIP2, DEFLATED, LZMA, STORED, ZipDirectory, ZipMember, member_chunks, read_directory

if TYPE_CHECKING:
    from .context import ScanContext

_READABLE_METHODS = (STORED, DEFLATED, BZIP2, LZMA)
_CRC_CHECK_LIMIT = 64 * 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_member_path(name: str, location: str, ctx: ScanContext) -> None:
    """Absolute paths and ``..`` components escape the folder an extractor writes to."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        ctx.add(ARCHIVE_ABSOLUTE.finding("member has an absolute path", location=location, evidence=name))
    if ".." in re.split(r"[\\/]", name):
        ctx.add(
            ARCHIVE_TRAVERSAL.finding(
                "member path climbs out of the archive", location=location, evidence=name
            )
        )


class ZipScanner:
    name = "zip"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        directory = read_directory(blob, ctx.limits)
        self._check_structure(directory, blob, ctx)
        layout = pytorch.zip_layout(directory.members)
        if layout is not None:
            return pytorch.scan_torch_zip(blob, directory, layout, ctx, open_member=open_member)
        if keras.is_keras_zip(directory.members):
            return keras.scan_keras_zip(blob, directory, ctx, open_member=open_member)
        for member in directory.members:
            ctx.deadline.check()
            if member.is_dir:
                continue
            member_blob = open_member(blob, member, ctx)
            if member_blob is not None:
                ctx.scan_nested(member_blob, name_hint=member.name)
                ctx.release(member_blob)
        if directory.members and all(m.name.endswith(".npy") for m in directory.members if not m.is_dir):
            return "npz"
        return None

    def _check_structure(self, directory: ZipDirectory, blob: Blob, ctx: ScanContext) -> None:
        if directory.prepended:
            ctx.add(
                ARCHIVE_PREPENDED.finding(
                    f"{directory.prepended} bytes precede the zip archive (polyglot or self-extractor)"
                    if directory.prepended > 0
                    else "the central directory's offset points past it (zipfile corrects it, others fail)",
                    location=blob.label,
                )
            )
        seen: set[str] = set()
        total = 0
        for member in directory.members:
            where = f"{blob.label}!{member.name}"
            check_member_path(member.name, where, ctx)
            if member.name in seen:
                ctx.add(
                    ARCHIVE_DUPLICATE.finding(
                        "two members share this name", location=where, evidence=member.name
                    )
                )
            seen.add(member.name)
            if member.local_name != member.name:
                ctx.add(
                    ARCHIVE_HEADER_MISMATCH.finding(
                        "local header names a different file than the central directory",
                        location=where,
                        evidence=f"central={member.name!r} local={member.local_name!r}",
                    )
                )
            mode = member.unix_mode
            if stat.S_ISLNK(mode):
                ctx.add(
                    ARCHIVE_LINK.finding("member is a symbolic link", location=where, evidence=member.name)
                )
            elif stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                ctx.add(
                    ARCHIVE_SPECIAL.finding("member is a special file", location=where, evidence=oct(mode))
                )
            total += member.uncompressed_size
            ratio = member.uncompressed_size / max(member.compressed_size, 1)
            if member.uncompressed_size > ctx.limits.ratio_floor and ratio > ctx.limits.max_ratio:
                ctx.add(
                    ARCHIVE_BOMB.finding(
                        f"member declares a {ratio:.0f}x compression ratio",
                        location=where,
                        evidence=f"{member.compressed_size} -> {member.uncompressed_size} bytes",
                    )
                )
        if total > ctx.limits.max_total_uncompressed:
            ctx.add(ARCHIVE_BOMB.finding(f"members declare {total} bytes in total", location=blob.label))
        _check_overlaps(directory.members, blob, ctx)


def _check_overlaps(members: tuple[ZipMember, ...], blob: Blob, ctx: ScanContext) -> None:
    spans = sorted((m.header_offset, m.data_offset + m.compressed_size, m.name) for m in members)
    for (start_a, end_a, name_a), (start_b, _, name_b) in itertools.pairwise(spans):
        if start_b < end_a:
            ctx.add(
                ARCHIVE_OVERLAP.finding(
                    "members overlap (shared data is a decompression-bomb and parser-confusion trick)",
                    location=blob.label,
                    evidence=f"{name_a!r}@{start_a} and {name_b!r}@{start_b}",
                )
            )
            return


def open_member(blob: Blob, member: ZipMember, ctx: ScanContext) -> Blob | None:
    """The member's content as a blob: a window for stored members, an inflated spool otherwise.
    None (with a finding) when it cannot be read."""
    where = f"{blob.label}!{member.name}"
    if member.method not in _READABLE_METHODS:
        ctx.add(
            ARCHIVE_METHOD.finding(
                f"compression method {member.method} cannot be scanned", location=where, evidence=member.name
            )
        )
        return None
    try:
        content = _read_member(blob, member, ctx, where)
    except MalformedInput as exc:
        if member.encrypted:
            ctx.add(ARCHIVE_ENCRYPTED.finding("member is encrypted and cannot be scanned", location=where))
            return None
        raise MalformedInput(f"{where}: {exc}") from exc
    if member.encrypted:
        fmt, _ = sniff(content, member.name, ctx.limits)
        if fmt is FileFormat.UNKNOWN:
            ctx.add(ARCHIVE_ENCRYPTED.finding("member is encrypted and cannot be scanned", location=where))
            return None
        ctx.add(
            ARCHIVE_FLAGS.finding(
                "member is flagged encrypted but holds plain content (a lenient loader reads it)",
                location=where,
                evidence=f"flags=0x{member.flags:04x}",
            )
        )
    return content


def _read_member(blob: Blob, member: ZipMember, ctx: ScanContext, where: str) -> Blob:
    if member.method == STORED:
        if member.compressed_size != member.uncompressed_size:
            ctx.add(
                ARCHIVE_HEADER_MISMATCH.finding(
                    "stored member declares different compressed and uncompressed sizes",
                    location=where,
                    evidence=f"{member.compressed_size} != {member.uncompressed_size}",
                )
            )
        content = blob.slice(member.data_offset, member.compressed_size, where)
        if content.size <= _CRC_CHECK_LIMIT:
            _check_crc(member, _crc_of(content.chunks()), where, ctx)
        return content
    crc = 0

    def counted() -> object:
        nonlocal crc
        account = functools.partial(ctx.account_inflated, what=where)
        for chunk in member_chunks(blob, member, ctx.limits, account=account):
            crc = zlib.crc32(chunk, crc)
            yield chunk

    content = ctx.spool(counted(), label=where)  # type: ignore[arg-type]
    _check_crc(member, crc, where, ctx)
    return content


def _crc_of(chunks: object) -> int:
    crc = 0
    for chunk in chunks:  # type: ignore[attr-defined]
        crc = zlib.crc32(chunk, crc)
    return crc


def _check_crc(member: ZipMember, crc: int, where: str, ctx: ScanContext) -> None:
    if crc != member.crc:
        ctx.add(
            ARCHIVE_CRC.finding(
                "member content does not match its CRC-32 (torch.load ignores this; zipfile refuses)",
                location=where,
                evidence=f"stored=0x{member.crc:08x} actual=0x{crc:08x}",
            )
        )


class TarScanner:
    name = "tar"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        members = _tar_members(blob, ctx)
        names = {m.name for m in members}
        legacy = pytorch.is_legacy_tar(names)
        seen: set[str] = set()
        for info in members:
            ctx.deadline.check()
            where = f"{blob.label}!{info.name}"
            check_member_path(info.name, where, ctx)
            if info.name in seen:
                ctx.add(
                    ARCHIVE_DUPLICATE.finding(
                        "two members share this name", location=where, evidence=info.name
                    )
                )
            seen.add(info.name)
            if info.issym() or info.islnk():
                ctx.add(
                    ARCHIVE_LINK.finding(
                        "member is a link", location=where, evidence=f"{info.name} -> {info.linkname}"
                    )
                )
                continue
            if info.ischr() or info.isblk() or info.isfifo() or info.isdev():
                ctx.add(
                    ARCHIVE_SPECIAL.finding("member is a device or fifo", location=where, evidence=info.name)
                )
                continue
            if not info.isfile() or info.size == 0:
                continue
            if info.sparse is not None:
                ctx.add(ARCHIVE_METHOD.finding("sparse tar member cannot be scanned", location=where))
                continue
            content = blob.slice(info.offset_data, info.size, where)
            if legacy and pytorch.scan_legacy_tar_member(info.name, content, ctx):
                continue
            ctx.scan_nested(content, name_hint=info.name)
        return "pytorch-legacy-tar" if legacy else None


def _tar_members(blob: Blob, ctx: ScanContext) -> list[tarfile.TarInfo]:
    members: list[tarfile.TarInfo] = []
    with blob.open() as raw:
        try:
            archive = tarfile.open(fileobj=raw, mode="r:")  # noqa: SIM115 - closed below
        except tarfile.TarError as exc:
            raise MalformedInput(f"unreadable tar archive: {exc}") from exc
        try:
            while True:
                try:
                    info = archive.next()
                except tarfile.TarError as exc:
                    raise MalformedInput(f"corrupt tar header: {exc}") from exc
                if info is None:
                    break
                members.append(info)
                if len(members) > ctx.limits.max_members:
                    raise LimitExceeded("max_members", "too many tar members")
        finally:
            archive.close()
    total = sum(m.size for m in members)
    if total > ctx.limits.max_total_uncompressed:
        ctx.add(ARCHIVE_BOMB.finding(f"tar members hold {total} bytes in total", location=blob.label))
    return members


class UnscannableScanner:
    """7z, rar, zstd, lz4 ...: content we cannot open is a finding, never a pass."""

    name = "unscannable"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        _, kind = sniff(blob, name_hint, ctx.limits)
        ctx.add(
            ARCHIVE_UNSCANNABLE.finding(
                f"{kind} container: its content cannot be scanned",
                location=blob.label,
                evidence=kind,
            )
        )
        return f"unscannable-container:{kind}"
