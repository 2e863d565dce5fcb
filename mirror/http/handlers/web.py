"""The review page under /hubgate/: one HTML page, its script module and style sheet, from the package.

The files are read once into memory and served only by name from that fixed set, so no part of a URL ever
reaches the file system (no traversal to guard against). The page talks to the JSON API with a bearer
token the reviewer pastes in; it uses no cookies, so there is nothing for a cross-site request to ride on.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from mirror.errors import NotFound
from mirror.http.routes import RouteMatch

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_INDEX = "index.html"

# Everything from our own origin only, nothing inline. Trusted Types make any HTML-parsing sink (innerHTML,
# insertAdjacentHTML, document.write) throw, so attacker-controlled text (file names, scanner evidence,
# reasons) can only ever reach the page as text. form-action 'none': should the script fail to load, the
# login form must not submit the token into a URL (history, proxy logs).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
# The page is revalidated on every load (cheap: an ETag round trip) so a new hubgate version shows at once;
# it names its assets with their content hash (`?v=`), which makes those safe to keep for a year.
_REVALIDATE = "no-cache"
_IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    version: str  # a prefix of the sha256 of the body

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def _asset(body: bytes, suffix: str) -> Asset:
    return Asset(body=body, content_type=_TYPES[suffix], version=hashlib.sha256(body).hexdigest()[:20])


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file of mirror/http/web/static by name, index.html with versioned links to the others."""
    folder = resources.files("mirror.http").joinpath("web", "static")
    found: dict[str, Asset] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            found[entry.name] = _asset(entry.read_bytes(), suffix)
    index = found.pop(_INDEX).body.decode()

    def versioned(link: re.Match[str]) -> str:
        name = link.group(1)
        if name not in found:
            raise RuntimeError(f"{_INDEX} links to static/{name}, which the package does not ship")
        return f'"static/{name}?v={found[name].version}"'

    found[_INDEX] = _asset(re.sub(r'"static/([^"?]+)"', versioned, index).encode(), ".html")
    return found


def _serve(request: web.Request, asset: Asset, cache_control: str) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "ETag": asset.etag}
    if asset.etag in _etags(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


async def page(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    if not request.path.endswith("/"):
        # The page's links are relative (static/..., ../api/...), which resolve right only below a slash.
        # A relative Location also keeps a reverse proxy's path prefix.
        raise web.HTTPPermanentRedirect(location="hubgate/", headers=SECURITY_HEADERS)
    return _serve(request, assets()[_INDEX], _REVALIDATE)


async def static(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    name = match.param("name")
    asset = assets().get(name)
    if asset is None or name == _INDEX:
        raise NotFound(f"the review page has no file {name}")
    # Only the exact version the current page links to may be kept for long.
    fresh = request.query.get("v") == asset.version
    return _serve(request, asset, _IMMUTABLE if fresh else _REVALIDATE)
