"""Reading the admin API's request bodies and query strings, with a clear 400 for anything malformed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mirror.errors import BadRequest


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("the request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def text_field(data: dict[str, Any], key: str, *, required: bool = False, limit: int = 4000) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise BadRequest(f"{key!r} must be a non-empty string of at most {limit} characters")
    return value


def int_query(request: web.Request, key: str, default: int, *, low: int = 0, high: int = 10**12) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{key} must be a whole number from {low} to {high}")
    return int(raw)
