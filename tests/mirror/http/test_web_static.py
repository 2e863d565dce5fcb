"""The review page's files as served: headers (CSP and friends, caching), conditional and HEAD requests,
404s, path traversal, and that the shipped page carries no inline script nor HTML-parsing sinks."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from importlib import resources
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from mirror.http.dispatch import Dispatcher
from mirror.http.handlers.web import assets
from mirror.http.middleware import errors, request_ids

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

STATIC = resources.files("mirror.http").joinpath("web", "static")


@pytest.fixture
async def client(aiohttp_client: Any) -> Client:
    # The real dispatcher and error middleware; the page needs none of hubgate's collaborators.
    app = web.Application(middlewares=[request_ids, errors])
    app.router.add_route("*", "/{tail:.*}", Dispatcher().dispatch)
    result: Client = await aiohttp_client(app)
    return result


def _assert_security_headers(headers: Any) -> None:
    csp = {
        part.strip().split(" ", 1)[0]: part.strip() for part in headers["Content-Security-Policy"].split(";")
    }
    assert csp["default-src"] == "default-src 'self'"
    assert csp["script-src"] == "script-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["object-src"] == "object-src 'none'"
    assert csp["require-trusted-types-for"] == "require-trusted-types-for 'script'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in headers


class _Page(HTMLParser):
    """Collects what matters for the CSP: scripts, inline handlers and styles, and the static links."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_code: list[str] = []
        self.links: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named)
            self._in_script = True
        if tag == "style":
            self.inline_code.append("<style>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.inline_code.append(f"{tag} {name}={value}")
            if name in ("src", "href") and value and value.startswith("static/"):
                self.links.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_code.append(data)


async def test_the_page_has_strict_headers_and_no_inline_code(client: Client) -> None:
    answer = await client.get("/hubgate/")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    _assert_security_headers(answer.headers)
    assert answer.headers["Cache-Control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{20}"', answer.headers["ETag"])
    page = _Page()
    page.feed(await answer.text())
    assert page.inline_code == []
    assert [script.get("type") for script in page.scripts] == ["module"]
    assert {link.split("?")[0] for link in page.links} == {
        "static/app.js",
        "static/app.css",
        "static/favicon.svg",
    }
    # Every link carries its file's content hash, so the file may be cached for a year.
    for link in page.links:
        asset = await client.get("/hubgate/" + link)
        assert asset.status == 200, link
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        _assert_security_headers(asset.headers)
        name = link.split("?")[0].removeprefix("static/")
        assert await asset.read() == STATIC.joinpath(name).read_bytes()


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
async def test_assets_without_their_current_version_are_revalidated(
    client: Client, name: str, content_type: str
) -> None:
    for query in ("", "?v=0123456789abcdef0123"):
        answer = await client.get(f"/hubgate/static/{name}{query}")
        assert answer.status == 200
        assert answer.headers["Content-Type"] == content_type
        assert answer.headers["Cache-Control"] == "no-cache"
        _assert_security_headers(answer.headers)


async def test_conditional_and_head_requests(client: Client) -> None:
    first = await client.get("/hubgate/static/app.js")
    etag = first.headers["ETag"]
    again = await client.get("/hubgate/static/app.js", headers={"If-None-Match": f'W/"x", {etag}'})
    assert again.status == 304
    assert await again.read() == b""
    assert again.headers["ETag"] == etag
    _assert_security_headers(again.headers)
    changed = await client.get("/hubgate/static/app.js", headers={"If-None-Match": '"0000"'})
    assert changed.status == 200
    head = await client.head("/hubgate/")
    assert head.status == 200
    assert int(head.headers["Content-Length"]) == len(assets()["index.html"].body)
    assert await head.read() == b""
    _assert_security_headers(head.headers)


async def test_the_page_url_without_slash_redirects_relatively(client: Client) -> None:
    answer = await client.get("/hubgate", allow_redirects=False)
    assert answer.status == 308
    # Relative, so that a reverse proxy's path prefix survives.
    assert answer.headers["Location"] == "hubgate/"
    followed = await client.get("/hubgate")
    assert followed.status == 200
    assert followed.url.path == "/hubgate/"


@pytest.mark.parametrize("name", ["nope.js", "app2.css", "index.css", "favicon-x.svg"])
async def test_unknown_static_files_are_404(client: Client, name: str) -> None:
    answer = await client.get(f"/hubgate/static/{name}")
    assert answer.status == 404
    assert answer.headers["X-Error-Code"] == "NotFound"
    assert "the review page has no file" in (await answer.json())["error"]


@pytest.mark.parametrize(
    "raw_path",
    [
        "/hubgate/static/../../pyproject.toml",
        "/hubgate/static/%2e%2e/%2e%2e/handlers/web.py",
        "/hubgate/static/..%2f..%2fhandlers%2fweb.py",
        "/hubgate/static/%252e%252e%252fapp.py",
        "/hubgate/static/..%5c..%5cdefault_policy.toml",
        "/hubgate/static/app.js%00.py",
        "/hubgate/static//etc/passwd",
        "/hubgate/static/index.html",
        "/hubgate/../mirror/web/static/app.js",
    ],
)
async def test_no_path_traversal_through_the_static_route(client: Client, raw_path: str) -> None:
    answer = await client.get(URL(raw_path, encoded=True))
    body = await answer.read()
    assert answer.status == 404, raw_path
    for secret in (b"[project]", b"import ", b"root:", b"<html", b"[licences]"):
        assert secret not in body


def test_the_scripts_never_parse_html() -> None:
    # A guard next to the CSP's Trusted Types: the modules build every node with createElement(NS) and
    # text nodes; only ui.js and chart.js create nodes at all.
    scripts = {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in STATIC.iterdir()
        if entry.name.endswith(".js")
    }
    assert set(scripts) == {"app.js", "api.js", "chart.js", "inventory.js", "revision.js", "ui.js"}
    for name, script in scripts.items():
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "Function(",
            "DOMParser",
            "createContextualFragment",
            "srcdoc",
            'setAttribute("style"',
        ):
            assert sink not in script, (name, sink)
    assert "createTextNode" in scripts["ui.js"]
    assert "createTextNode" in scripts["chart.js"]


def test_the_modules_import_only_each_other() -> None:
    # Nothing from outside hubgate's origin (the CSP would refuse it anyway), no dynamic import.
    for entry in STATIC.iterdir():
        if entry.name.endswith(".js"):
            script = entry.read_text(encoding="utf-8")
            assert "import(" not in script, entry.name
            for target in re.findall(r'^import [^;]*? from "([^"]+)";', script, flags=re.M | re.S):
                assert re.fullmatch(r"\./[a-z]+\.js", target), (entry.name, target)
                assert STATIC.joinpath(target[2:]).is_file(), (entry.name, target)


def test_every_shipped_file_is_served() -> None:
    shipped = {entry.name for entry in STATIC.iterdir() if entry.is_file()}
    assert shipped == set(assets())
