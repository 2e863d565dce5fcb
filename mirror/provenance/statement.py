"""The in-toto Statement inside an OMS signature: strict parsing into a SignedManifest, and building one.

Format (model_signing 1.1.1, `_signing/signing.py::Payload` and `dsse_payload_to_manifest`; spec:
https://github.com/ossf/model-signing-spec):

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": <model name>, "digest": {"sha256": <root digest>}}],
     "predicateType": "https://model_signing/signature/v1.0",
     "predicate": {
        "serialization": {"method": "files" | "shards", "hash_type": "sha256" | "blake2b" | "blake3",
                          "allow_symlinks": bool, "ignore_paths": [..]?, "shard_size": int (shards)},
        "resources": [{"name": <path> | "<path>:<start>:<end>", "algorithm": .., "digest": <hex>}, ..]}}

The root digest is SHA-256 over the concatenated raw resource digests in the listed order. For `shards`
the resource algorithm is "<hash_type>-sharded-<shard_size>" and each file is cut into consecutive
[start, end) ranges of `shard_size` bytes (the last one shorter; an empty file has no shard at all).
Other predicate fields are ignored, as the v1.0 predicate asks of verifiers.

model_signing before 1.0 wrote predicate type "https://model_signing/Digests/v0.1": the files are the
statement's subjects ({name, digest: {sha256}}), with no predicate and no root digest; it is read as a
`files`/`sha256` manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from mirror.provenance.errors import BundleFormatError, UnsupportedBundleError
from mirror.provenance.paths import GIT_IGNORED_PATHS, check_relative_path
from mirror.provenance.strictjson import (
    get_bool,
    get_list,
    get_object,
    get_positive_int,
    get_str,
    loads_object,
)

IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
OMS_LEGACY_PREDICATE_TYPE = "https://model_signing/Digests/v0.1"

# Digest algorithms model_signing 1.x can write, with their hex digest lengths.
HASH_HEX_LENGTHS: Mapping[str, int] = MappingProxyType({"sha256": 64, "blake2b": 128, "blake3": 64})
# Algorithms that model_signing's shard serialisation uses (it turns blake3 shards into files).
SHARD_HASH_TYPES = frozenset({"sha256", "blake2b"})
_HEX = re.compile(r"[0-9a-fA-F]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")  # at most 19 digits: no huge int parsing


class SerializationMethod(StrEnum):
    FILES = "files"
    SHARDS = "shards"


@dataclass(frozen=True, slots=True)
class Shard:
    start: int
    end: int
    digest: str  # lower-case hex


@dataclass(frozen=True, slots=True)
class SignedFile:
    """One file the signature covers: a whole-file digest (`files`) or its shards (`shards`)."""

    path: str
    algorithm: str  # the hash_type: sha256 | blake2b | blake3
    digest: str | None = None  # lower-case hex, `files` manifests
    shards: tuple[Shard, ...] = ()  # in offset order, `shards` manifests

    @property
    def size(self) -> int | None:
        """The file's size implied by its shards (`shards` manifests only)."""
        return self.shards[-1].end if self.shards else None


@dataclass(frozen=True, slots=True)
class SignedManifest:
    """What a (verified) OMS statement says: the model's files and how they were hashed."""

    predicate_type: str
    model_name: str
    method: SerializationMethod
    hash_type: str
    shard_size: int | None
    allow_symlinks: bool
    ignore_paths: tuple[str, ...]
    files: Mapping[str, SignedFile] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def legacy(self) -> bool:
        return self.predicate_type == OMS_LEGACY_PREDICATE_TYPE


def parse_statement(payload: bytes) -> SignedManifest:
    """Parse the DSSE payload of an OMS signature. Raises BundleFormatError / UnsupportedBundleError."""
    doc = loads_object(payload, "signed statement")
    statement_type = get_str(doc, "_type", "statement")
    if statement_type != IN_TOTO_STATEMENT_TYPE:
        raise BundleFormatError(f"statement._type is {statement_type!r}, expected {IN_TOTO_STATEMENT_TYPE!r}")
    predicate_type = get_str(doc, "predicateType", "statement")
    if predicate_type == OMS_PREDICATE_TYPE:
        return _parse_v1(doc)
    if predicate_type == OMS_LEGACY_PREDICATE_TYPE:
        return _parse_legacy(doc)
    raise UnsupportedBundleError(
        f"statement.predicateType {predicate_type!r} is not an OpenSSF model signature ({OMS_PREDICATE_TYPE})"
    )


def _hex_digest(value: Any, algorithm: str, where: str) -> str:
    if not isinstance(value, str):
        raise BundleFormatError(f"{where} must be a hex string")
    expected = HASH_HEX_LENGTHS[algorithm]
    if len(value) != expected or not _HEX.fullmatch(value):
        raise BundleFormatError(f"{where} is not a {algorithm} digest ({expected} hex digits)")
    return value.lower()


@dataclass(frozen=True, slots=True)
class _Serialization:
    method: SerializationMethod
    hash_type: str
    shard_size: int | None
    allow_symlinks: bool
    ignore_paths: tuple[str, ...]

    @property
    def resource_algorithm(self) -> str:
        if self.shard_size is None:
            return self.hash_type
        return f"{self.hash_type}-sharded-{self.shard_size}"


def _parse_v1(doc: Mapping[str, Any]) -> SignedManifest:
    subjects = get_list(doc, "subject", "statement")
    if len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise BundleFormatError(f"statement.subject must hold exactly one subject, found {len(subjects)}")
    subject = subjects[0]
    model_name = get_str(subject, "name", "statement.subject[0]", allow_empty=True)
    subject_digest = get_object(subject, "digest", "statement.subject[0]")
    root_digest = _hex_digest(subject_digest.get("sha256"), "sha256", "statement.subject[0].digest.sha256")
    predicate = get_object(doc, "predicate", "statement")
    ser = _parse_serialization(get_object(predicate, "serialization", "statement.predicate"))
    files = _parse_resources(get_list(predicate, "resources", "statement.predicate"), ser, root_digest)
    return SignedManifest(
        predicate_type=OMS_PREDICATE_TYPE,
        model_name=model_name,
        method=ser.method,
        hash_type=ser.hash_type,
        shard_size=ser.shard_size,
        allow_symlinks=ser.allow_symlinks,
        ignore_paths=ser.ignore_paths,
        files=MappingProxyType(files),
    )


def _parse_serialization(ser: Mapping[str, Any]) -> _Serialization:
    where = "statement.predicate.serialization"
    method_name = get_str(ser, "method", where)
    try:
        method = SerializationMethod(method_name)
    except ValueError:
        raise BundleFormatError(f"{where}.method {method_name!r} is unknown (files or shards)") from None
    hash_type = get_str(ser, "hash_type", where)
    if hash_type not in HASH_HEX_LENGTHS:
        raise BundleFormatError(f"{where}.hash_type {hash_type!r} is an unknown hash algorithm")
    allow_symlinks = get_bool(ser, "allow_symlinks", where)
    shard_size: int | None = None
    if method is SerializationMethod.SHARDS:
        if hash_type not in SHARD_HASH_TYPES:
            raise BundleFormatError(f"{where}.hash_type {hash_type!r} is not used with shards")
        shard_size = get_positive_int(ser, "shard_size", where)
    return _Serialization(method, hash_type, shard_size, allow_symlinks, _parse_ignore_paths(ser, where))


def _parse_resources(resources: list[Any], ser: _Serialization, root_digest: str) -> dict[str, SignedFile]:
    root = hashlib.sha256()
    whole: dict[str, SignedFile] = {}
    sharded: dict[str, list[Shard]] = {}
    seen_shards: set[tuple[str, int, int]] = set()
    for i, resource in enumerate(resources):
        at = f"statement.predicate.resources[{i}]"
        if not isinstance(resource, dict):
            raise BundleFormatError(f"{at} must be an object")
        name = get_str(resource, "name", at)
        algorithm = get_str(resource, "algorithm", at)
        if algorithm != ser.resource_algorithm:
            raise BundleFormatError(
                f"{at}.algorithm {algorithm!r} is an unknown hash algorithm here "
                f"(expected {ser.resource_algorithm!r})"
            )
        digest = _hex_digest(resource.get("digest"), ser.hash_type, f"{at}.digest")
        root.update(bytes.fromhex(digest))
        if ser.shard_size is None:
            path = check_relative_path(name, f"{at}.name")
            if path in whole:
                raise BundleFormatError(f"{at}: duplicate path {path!r}")
            whole[path] = SignedFile(path=path, algorithm=ser.hash_type, digest=digest)
        else:
            path, start, end = _split_shard_name(name, f"{at}.name")
            if (path, start, end) in seen_shards:
                raise BundleFormatError(f"{at}: duplicate shard {name!r}")
            seen_shards.add((path, start, end))
            sharded.setdefault(path, []).append(Shard(start, end, digest))
    if root.hexdigest() != root_digest:
        raise BundleFormatError(
            "statement is inconsistent: the subject digest does not match the listed resources"
        )
    if ser.shard_size is not None:
        for path, shards in sharded.items():
            whole[path] = SignedFile(
                path=path, algorithm=ser.hash_type, shards=_check_shards(path, shards, ser.shard_size)
            )
    return whole


def _parse_ignore_paths(ser: Mapping[str, Any], where: str) -> tuple[str, ...]:
    if "ignore_paths" not in ser:
        return ()
    values = get_list(ser, "ignore_paths", where)
    result: list[str] = []
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise BundleFormatError(f"{where}.ignore_paths[{i}] must be a string")
        result.append(check_relative_path(value, f"{where}.ignore_paths[{i}]"))
    return tuple(result)


def _split_shard_name(name: str, where: str) -> tuple[str, int, int]:
    parts = name.rsplit(":", 2)
    if len(parts) != 3 or not _DECIMAL.fullmatch(parts[1]) or not _DECIMAL.fullmatch(parts[2]):
        raise BundleFormatError(f"{where}: shard name {name!r} is not '<path>:<start>:<end>'")
    path = check_relative_path(parts[0], where)
    start, end = int(parts[1]), int(parts[2])
    if end <= start:
        raise BundleFormatError(f"{where}: shard {name!r} is empty or reversed")
    return path, start, end


def _check_shards(path: str, shards: list[Shard], shard_size: int) -> tuple[Shard, ...]:
    """The shards of one file must tile it from 0 in `shard_size` steps, only the last one shorter."""
    ordered = sorted(shards, key=lambda s: s.start)
    offset = 0
    for index, shard in enumerate(ordered):
        last = index == len(ordered) - 1
        length = shard.end - shard.start
        if shard.start != offset or length > shard_size or (not last and length != shard_size):
            raise BundleFormatError(
                f"statement: the shards of {path!r} do not tile the file in steps of {shard_size} bytes"
            )
        offset = shard.end
    return tuple(ordered)


def _parse_legacy(doc: Mapping[str, Any]) -> SignedManifest:
    subjects = get_list(doc, "subject", "statement")
    files: dict[str, SignedFile] = {}
    for i, subject in enumerate(subjects):
        at = f"statement.subject[{i}]"
        if not isinstance(subject, dict):
            raise BundleFormatError(f"{at} must be an object")
        path = check_relative_path(get_str(subject, "name", at), f"{at}.name")
        digest = _hex_digest(get_object(subject, "digest", at).get("sha256"), "sha256", f"{at}.digest.sha256")
        if path in files:
            raise BundleFormatError(f"{at}: duplicate path {path!r}")
        files[path] = SignedFile(path=path, algorithm="sha256", digest=digest)
    return SignedManifest(
        predicate_type=OMS_LEGACY_PREDICATE_TYPE,
        model_name="",
        method=SerializationMethod.FILES,
        hash_type="sha256",
        shard_size=None,
        allow_symlinks=False,
        ignore_paths=(),
        files=MappingProxyType(files),
    )


def path_sort_key(path: str) -> list[str]:
    """model_signing orders resources as `PurePosixPath`s, i.e. by their list of components."""
    return path.split("/")


def build_files_statement(files: Mapping[str, str], *, model_name: str, signature_path: str) -> bytes:
    """The payload of an OMS v1.0 `files`/`sha256` signature over exactly `files` (path -> sha256 hex).

    `ignore_paths` records what model_signing's CLI records: the git paths and the signature file.
    """
    check_relative_path(signature_path, "signature path")
    resources = []
    root = hashlib.sha256()
    for path in sorted(files, key=path_sort_key):
        check_relative_path(path, "file path")
        digest = _hex_digest(files[path], "sha256", f"digest of {path!r}")
        root.update(bytes.fromhex(digest))
        resources.append({"name": path, "algorithm": "sha256", "digest": digest})
    statement = {
        "_type": IN_TOTO_STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": root.hexdigest()}}],
        "predicateType": OMS_PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": sorted({*GIT_IGNORED_PATHS, signature_path}),
            },
            "resources": resources,
        },
    }
    return json.dumps(statement, indent=2).encode("utf-8")
