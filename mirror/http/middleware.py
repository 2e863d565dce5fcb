"""Request ids and the one place where errors become HTTP answers."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from mirror.errors import HeadersTooLarge, MirrorError, StorageUnavailable, TooLarge
from mirror.http.routes import ROUTE
from mirror.logs import request_id
from mirror.metrics import Metrics
from storage.db import DatabaseUnavailable
from storage.objects import ObjectStoreError

log = logging.getLogger(__name__)
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def observe(metrics: Metrics) -> Middleware:
    """Requests by route and status, and their duration (to the last byte), in the app's metrics."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        status = 500
        metrics.requests_in_progress.inc()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            status = exc.status
            raise
        else:
            status = response.status
        finally:
            metrics.requests_in_progress.dec()
            route = request.get(ROUTE, "unmatched")
            metrics.requests.labels(route, request.method, str(status)).inc()
            metrics.request_seconds.labels(route).observe(time.monotonic() - started)
        return response

    return count


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex[:16]
    token = request_id.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-Id"] = rid
        raise
    finally:
        request_id.reset(token)
    if not response.prepared:
        response.headers["X-Request-Id"] = rid
    return response


def header_limits(max_field_size: int) -> Middleware:
    """Refuse requests whose request line or any header is longer than `max_field_size` bytes."""

    @web.middleware
    async def check_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        if len(request.raw_path) > max_field_size:
            raise HeadersTooLarge(f"the request URL is longer than {max_field_size} bytes")
        for name, value in request.raw_headers:
            if len(name) + len(value) > max_field_size:
                shown = name.decode("latin-1")[:64]
                raise HeadersTooLarge(f"request header {shown} is longer than {max_field_size} bytes")
        return await handler(request)

    return check_headers


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except MirrorError as exc:
        return error_response(request, exc)
    except DatabaseUnavailable as exc:
        log.warning("database unavailable: %s", exc)
        return error_response(
            request, StorageUnavailable("hubgate's metadata database is unavailable; retry later")
        )
    except ObjectStoreError as exc:
        log.warning("object store unavailable: %s", exc)
        return error_response(
            request, StorageUnavailable("hubgate's object store is unavailable; retry later")
        )
    except web.HTTPRequestEntityTooLarge:
        return error_response(request, TooLarge("the request body is too large"))
    except web.HTTPException:
        raise
    except Exception:  # the one catch-all: an unexpected bug answers a coded 500, never a bare one
        log.exception("unhandled error on %s %s", request.method, request.rel_url.path)
        return error_response(request, MirrorError("hubgate hit an internal error; see its logs"))


def error_response(request: web.Request, error: MirrorError) -> web.Response:
    message = _header_safe(error.message)
    headers = {"X-Error-Code": error.code, "X-Error-Message": message, **error.headers}
    if error.commit:
        headers["X-Repo-Commit"] = error.commit
    if error.code == "GatedRepo":
        # Libraries that swallow GatedRepoError (transformers falls back to "file not found") still show
        # this: huggingface_hub logs every X-HF-Warning, once per topic, errors included.
        topic = "hubgate-" + hashlib.sha1(message.encode(), usedforsecurity=False).hexdigest()[:10]
        headers.setdefault("X-HF-Warning", f"{topic}; {message}")
    if error.status >= 500 or error.status == 429:
        log.warning(
            "%s %s -> %d %s: %s", request.method, request.rel_url.path, error.status, error.code, message
        )
    return web.json_response({"error": error.message}, status=error.status, headers=headers)


def _header_safe(text: str) -> str:
    single_line = " ".join(text.split())
    return single_line.encode("ascii", "replace").decode("ascii")[:1000]
