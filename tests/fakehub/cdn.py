"""The fake CDN: a separate host serving LFS objects by sha256 from presigned-looking URLs.

The Hub's resolve answers 302 to it, like huggingface.co to cdn-lfs / cas-bridge. The CDN does not look
at Authorization (the client drops it off-host), but the request log keeps it so tests can prove no
token leaks here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from email.utils import formatdate
from urllib.parse import quote, urlencode

from aiohttp import web

from tests.fakehub.bodies import RangeNotSatisfiable, send_bytes
from tests.fakehub.files import FakeFile
from tests.fakehub.hub import FakeHub
from tests.fakehub.middleware import EFFECTS, fake_server_middleware
from tests.fakehub.requestlog import Host

URL_LIFETIME_SECONDS = 3600
_KEY_PAIR_ID = "K3FAKEHUBKEYPAIR"
_OBJECT_PATH = re.compile(r"/repos/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")

HUB_KEY = web.AppKey("fakehub_cdn_hub", FakeHub)


def content_disposition(filename: str) -> str:
    """As the Hub sets it; the client reads the name back with `filename="(.*?)";`."""
    return f"inline; filename*=UTF-8''{quote(filename)}; filename=\"{filename}\";"


def signed_url(hub: FakeHub, cdn_url: str, file: FakeFile, *, now: float | None = None) -> str:
    """A URL on the CDN for `file`'s LFS object, valid for an hour."""
    sha = file.sha256
    path = f"/repos/{sha[:2]}/{sha[2:4]}/{sha}"
    expires = int((now if now is not None else time.time()) + URL_LIFETIME_SECONDS)
    disposition = content_disposition(file.path.rpartition("/")[2])
    query = {
        "response-content-disposition": disposition,
        "response-content-type": "application/octet-stream",
        "Expires": str(expires),
        "Signature": _signature(hub, path, expires, disposition),
        "Key-Pair-Id": _KEY_PAIR_ID,
    }
    return f"{cdn_url}{path}?{urlencode(query)}"


def create_cdn_app(hub: FakeHub) -> web.Application:
    app = web.Application(middlewares=[fake_server_middleware(hub, Host.CDN)])
    app[HUB_KEY] = hub
    app.router.add_route("*", "/{tail:.*}", _serve_object)
    return app


def _signature(hub: FakeHub, path: str, expires: int, disposition: str) -> str:
    message = f"{path}\n{expires}\n{disposition}".encode()
    return hmac.new(hub.cdn_secret, message, hashlib.sha256).hexdigest()


async def _serve_object(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    if request.method not in ("GET", "HEAD"):
        return _s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
    match = _OBJECT_PATH.fullmatch(request.rel_url.path)
    if match is None:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    query = request.rel_url.query
    expires = query.get("Expires", "")
    disposition = query.get("response-content-disposition", "")
    expected = _signature(hub, request.rel_url.path, int(expires), disposition) if expires.isdigit() else ""
    if not expected or not hmac.compare_digest(expected, query.get("Signature", "")):
        return _s3_error(403, "AccessDenied", "Invalid signature")
    if int(expires) < time.time():
        return _s3_error(403, "AccessDenied", "Request has expired")
    file = hub.find_lfs_file(match.group(3))
    if file is None:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    headers = {
        "Content-Type": query.get("response-content-type", "application/octet-stream"),
        "Content-Disposition": disposition,
        "Accept-Ranges": "bytes",
        "Cache-Control": "public, max-age=604800, immutable, s-maxage=604800",
        "Last-Modified": formatdate(0, usegmt=True),
        "X-Cache": "Hit from cloudfront",
    }
    try:
        return await send_bytes(
            request, file.blob, headers=headers, effects=request[EFFECTS], etag=f'"{file.sha256}"'
        )
    except RangeNotSatisfiable as error:
        response = _s3_error(416, "InvalidRange", "The requested range is not satisfiable")
        response.headers["Content-Range"] = error.content_range
        return response


def _s3_error(status: int, code: str, message: str) -> web.Response:
    # What S3 behind CloudFront answers: XML, and none of the Hub's X-Error-* headers.
    prolog = "<?xml version='1.0' encoding='UTF-8'?>"
    body = f"{prolog}\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return web.Response(status=status, text=body, content_type="application/xml")
