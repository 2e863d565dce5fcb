"""The three descriptions of the URL surface agree: the route table (routes.py), the handler tables
(dispatch.py) and the OpenAPI document (openapi.py). Each stays hand-written where it reads best; this
test is what keeps them one table."""

from __future__ import annotations

import re

from mirror.http.dispatch import BOUND_HANDLERS, FREE_HANDLERS
from mirror.http.openapi import OPENAPI
from mirror.http.routes import Route, match

_SAMPLES = {
    "id": "7",
    "sha256": "a" * 64,
    "job": "0123abcd",
    "repo_type": "model",
    "org": "some-org",
    "name": "some-model",
    "commit": "0" * 40,
    "revision": "main",
}
# Documented elsewhere or not an API call: the document itself, the catch-all that answers 404.
_UNDOCUMENTED = {Route.ADMIN_OPENAPI, Route.ADMIN_UNKNOWN}


def _documented() -> dict[tuple[str, str], Route]:
    """(method, concrete URL) of every OpenAPI operation -> the route the table gives it."""
    base = OPENAPI["servers"][0]["url"]
    found = {}
    for template, operations in OPENAPI["paths"].items():
        url = base + re.sub(r"\{(\w+)\}", lambda part: _SAMPLES[part.group(1)], template)
        for method in operations.keys() - {"parameters"}:
            found[(method.upper(), url)] = match(method.upper(), url).route
    return found


def test_every_route_has_exactly_one_handler() -> None:
    assert set(FREE_HANDLERS) | set(BOUND_HANDLERS) == set(Route)
    assert set(FREE_HANDLERS) & set(BOUND_HANDLERS) == set()


def test_every_documented_operation_reaches_its_own_route() -> None:
    unrouted = {key: route for key, route in _documented().items() if route in _UNDOCUMENTED}
    assert unrouted == {}


def test_every_admin_route_is_documented() -> None:
    admin = {route for route in Route if route.name.startswith("ADMIN_")} - _UNDOCUMENTED
    assert admin - set(_documented().values()) == set()
