"""The review page's URLs: where they route, and that they can never take a Hub URL (nor the reverse)."""

from __future__ import annotations

import pytest

from mirror.errors import NotFound
from mirror.http import routes
from mirror.http.routes import MethodNotAllowed, Route, match
from mirror.hub.models import RepoType

_WEB_ROUTES = {Route.WEB_PAGE, Route.WEB_STATIC}
WEB_URLS = [
    "/hubgate",
    "/hubgate/",
    "/hubgate/static/app.js",
    "/hubgate/static/app.css",
    "/hubgate/static/x.svg",
]
# Hub URLs whose repository is named like the page's own segments: each must stay the Hub's.
HUB_URLS = [
    ("/hubgate/static/resolve/main/app.js", Route.RESOLVE, RepoType.MODEL, "hubgate/static"),
    ("/hubgate/resolve/main/static/app.js", Route.RESOLVE, RepoType.MODEL, "hubgate"),
    ("/hubgate/resolve/main/index.html", Route.RESOLVE, RepoType.MODEL, "hubgate"),
    ("/hubgate/hubgate/resolve/v1/static/app.css", Route.RESOLVE, RepoType.MODEL, "hubgate/hubgate"),
    ("/datasets/hubgate/static/resolve/main/app.js", Route.RESOLVE, RepoType.DATASET, "hubgate/static"),
    ("/spaces/hubgate/static/resolve/main/x.svg", Route.RESOLVE, RepoType.SPACE, "hubgate/static"),
    ("/api/models/hubgate/static", Route.REPO_INFO, RepoType.MODEL, "hubgate/static"),
    ("/api/models/hubgate/static/tree/main/app.js", Route.TREE, RepoType.MODEL, "hubgate/static"),
    ("/api/models/hubgate", Route.REPO_INFO, RepoType.MODEL, "hubgate"),
]


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/hubgate", Route.WEB_PAGE),
        ("/hubgate/", Route.WEB_PAGE),
        ("/hubgate/static/app.js", Route.WEB_STATIC),
        ("/hubgate/static/app.css", Route.WEB_STATIC),
        ("/hubgate/static/favicon.svg", Route.WEB_STATIC),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_page_and_static_routes(method: str, path: str, route: Route) -> None:
    found = match(method, path)
    assert found.route is route
    assert found.repo is None
    if route is Route.WEB_STATIC:
        assert found.param("name") == path.rsplit("/", 1)[1]


@pytest.mark.parametrize(("path", "route", "repo_type", "repo_id"), HUB_URLS)
def test_hub_urls_under_the_same_names_stay_hub_routes(
    path: str, route: Route, repo_type: RepoType, repo_id: str
) -> None:
    found = match("GET", path)
    assert found.route is route
    assert found.repo is not None
    assert (found.repo.repo_type, found.repo.repo_id) == (repo_type, repo_id)


def test_no_pattern_of_the_table_matches_both_a_page_url_and_a_hub_url() -> None:
    # Order-independent: whatever the position of the page's entries, neither side can shadow the other.
    for _methods, pattern, route in routes._TABLE:
        if route in _WEB_ROUTES:
            assert not [url for url, *_ in HUB_URLS if pattern.fullmatch(url)], route
        else:
            assert not [url for url in WEB_URLS if pattern.fullmatch(url)], route


@pytest.mark.parametrize(
    "path",
    [
        "/hubgate/static/../../etc/passwd",
        "/hubgate/static/%2e%2e/%2e%2e/etc/passwd",
        "/hubgate/static/..%2fapp.js",
        "/hubgate/static/%2e%2e%2fhandlers%2fweb.py",
        "/hubgate/static/sub/app.js",
        "/hubgate/static/.app.js",
        "/hubgate/static/app.py",
        "/hubgate/static/index.html",
        "/hubgate/static/app.js/",
        "/hubgate/static/",
        "/hubgate/index.html",
        "/hubgate/web/static/app.js",
    ],
)
def test_anything_but_a_plain_asset_name_is_no_page_route(path: str) -> None:
    with pytest.raises(NotFound) as caught:
        match("GET", path)
    assert not isinstance(caught.value, MethodNotAllowed)


def test_the_page_is_read_only() -> None:
    for path in ("/hubgate/", "/hubgate/static/app.js"):
        with pytest.raises(MethodNotAllowed):
            match("POST", path)
