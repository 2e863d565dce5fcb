"""JSON API: repo info, tree listings, paths-info; Xet token requests are refused."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from aiohttp import web

from mirror.errors import BadRequest, XetDisabled
from mirror.http.handlers.common import HubRequests
from mirror.http.routes import RouteMatch
from mirror.hub.access import AccessChecker
from mirror.hub.catalog import Catalog
from mirror.hub.names import RepoNames
from mirror.hub.rules import parse_path

_INFO_PARAMS = frozenset({"expand", "blobs", "securityStatus", "files_metadata"})
_TREE_PARAMS = frozenset({"recursive", "expand", "limit"})
_BOOLEAN_PARAMS = frozenset({"recursive", "blobs", "securityStatus", "files_metadata"})
_MAX_PATHS = 10_000


def _params(request: web.Request, allowed: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """The query parameters upstream understands, booleans normalised (0.36 sends `True`)."""
    kept: list[tuple[str, str]] = []
    for key, raw in request.query.items():
        if key not in allowed:
            continue
        if key == "limit" and not raw.isdigit():
            raise BadRequest(f"limit must be a whole number, got {raw!r}")
        kept.append((key, _boolean(key, raw) if key in _BOOLEAN_PARAMS else raw))
    return tuple(kept)


def _boolean(key: str, value: str) -> str:
    lowered = value.lower()
    if lowered in ("true", "1", ""):
        return "true"
    if lowered in ("false", "0"):
        return "false"
    raise BadRequest(f"{key} must be true or false, got {value!r}")


class HubApi:
    """The Hub's JSON API as hubgate answers it, from the catalog (upstream or hubgate's store)."""

    def __init__(
        self, *, requests: HubRequests, catalog: Catalog, names: RepoNames, access: AccessChecker
    ) -> None:
        self._requests = requests
        self._catalog = catalog
        self._names = names
        self._access = access

    async def repo_info(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        repo = await self._requests.target_repo(request, match)
        revision, warning = await self._requests.held_revision(request, repo, match.revision)
        document = await self._catalog.repo_info(
            repo, revision, _params(request, _INFO_PARAMS), self._requests.credentials(request)
        )
        return self._requests.json_response(
            document.body, stale=document.stale, warning=document.continuity or warning
        )

    async def tree(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        params = _params(request, _TREE_PARAMS)
        cursor = request.query.get("cursor")
        upstream_params = params + ((("cursor", cursor),) if cursor else ())
        repo = await self._requests.target_repo(request, match)
        revision, warning = await self._requests.held_revision(request, repo, match.pinned_revision)
        document = await self._catalog.tree(
            repo,
            revision or match.pinned_revision,
            match.path,
            upstream_params,
            self._requests.credentials(request),
        )
        response = self._requests.json_response(
            document.body, stale=document.stale, warning=document.continuity or warning
        )
        if document.next_cursor is not None:
            # Pages are listed by commit so that every page describes the same snapshot.
            path_part = f"/{quote(match.path)}" if match.path else ""
            query = urlencode([*params, ("cursor", document.next_cursor)])
            next_url = (
                f"{self._requests.public_base(request)}/api/{repo.repo_type.api_segment}/{repo.repo_id}"
                f"/tree/{document.commit}{path_part}?{query}"
            )
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    async def paths_info(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        form = await request.post()
        paths = [parse_path(str(value)) for value in form.getall("paths", [])]
        if len(paths) > _MAX_PATHS:
            raise BadRequest(f"at most {_MAX_PATHS} paths per request")
        expand = [_boolean("expand", str(value)) for value in form.getall("expand", [])]
        fields = tuple(("paths", path) for path in paths) + tuple(("expand", value) for value in expand)
        repo = await self._requests.target_repo(request, match)
        revision, warning = await self._requests.held_revision(request, repo, match.pinned_revision)
        document = await self._catalog.paths_info(
            repo, revision or match.pinned_revision, fields, self._requests.credentials(request)
        )
        return self._requests.json_response(
            document.body, stale=document.stale, warning=document.continuity or warning
        )

    async def auth_check(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        credentials = self._requests.credentials(request)
        repo = await self._names.canonical(match.target, credentials)
        await self._access.require(repo, credentials)
        return web.json_response({"repoId": repo.repo_id, "accessRequest": None})


async def xet_read_token(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    raise XetDisabled(
        "hubgate serves every file over plain HTTP after verifying it; Xet transfers are disabled. "
        "Upgrade huggingface_hub or remove Xet hints from your setup."
    )
