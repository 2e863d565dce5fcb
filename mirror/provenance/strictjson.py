"""Strict JSON decoding for untrusted signature files.

Duplicate object keys are rejected (a verifier that keeps the first value and another that keeps the last
would see different manifests), as are NaN/Infinity, non-UTF-8 input and absurd nesting. Typed field
accessors raise BundleFormatError naming the JSON path of the offending field.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from mirror.provenance.errors import BundleFormatError

JsonObject = Mapping[str, Any]

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # a manifest of a few hundred thousand files still fits


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BundleFormatError(f"duplicate JSON key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise BundleFormatError(f"JSON constant {name} is not allowed")


def loads_object(raw: bytes | str, what: str) -> dict[str, Any]:
    """Decode `raw` as one JSON object; `what` names the document in error messages."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise BundleFormatError(f"{what} is larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleFormatError(f"{what} is not UTF-8: {exc}") from None
    else:
        text = raw
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except BundleFormatError as exc:
        raise BundleFormatError(f"{what} is not valid JSON: {exc.message}") from None
    except (ValueError, RecursionError) as exc:
        raise BundleFormatError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BundleFormatError(f"{what} must be a JSON object, not {_type_name(value)}")
    return value


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def check_keys(obj: JsonObject, where: str, allowed: frozenset[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise BundleFormatError(f"{where}: unexpected field(s) {', '.join(map(repr, unknown))}")


def get_object(obj: JsonObject, key: str, where: str) -> JsonObject:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise BundleFormatError(_missing_or_wrong(obj, key, where, "an object"))
    return value


def get_list(obj: JsonObject, key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise BundleFormatError(_missing_or_wrong(obj, key, where, "an array"))
    return value


def get_str(obj: JsonObject, key: str, where: str, *, allow_empty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise BundleFormatError(_missing_or_wrong(obj, key, where, "a string"))
    if not value and not allow_empty:
        raise BundleFormatError(f"{where}.{key} must not be empty")
    return value


def get_bool(obj: JsonObject, key: str, where: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise BundleFormatError(_missing_or_wrong(obj, key, where, "a boolean"))
    return value


def get_positive_int(obj: JsonObject, key: str, where: str) -> int:
    """A positive integer; integral floats (`3.0`) are accepted because protobuf's Struct writes them."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BundleFormatError(_missing_or_wrong(obj, key, where, "a number"))
    if isinstance(value, float) and not value.is_integer():
        raise BundleFormatError(f"{where}.{key} must be a whole number, got {value!r}")
    number = int(value)
    if number <= 0:
        raise BundleFormatError(f"{where}.{key} must be positive, got {number}")
    return number


def _missing_or_wrong(obj: JsonObject, key: str, where: str, expected: str) -> str:
    if key not in obj:
        return f"{where}: missing field {key!r}"
    return f"{where}.{key} must be {expected}, not {_type_name(obj[key])}"


def b64decode(value: str, where: str) -> bytes:
    """Decode protobuf-JSON `bytes`: standard or URL-safe base64, padding optional; nothing else."""
    text = value
    if not text.isascii() or not text:
        raise BundleFormatError(f"{where} is not base64")
    padded = text + "=" * (-len(text) % 4)
    alt = b"-_" if ("-" in text or "_" in text) else None
    try:
        return base64.b64decode(padded, altchars=alt, validate=True)
    except (binascii.Error, ValueError):
        raise BundleFormatError(f"{where} is not base64") from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
