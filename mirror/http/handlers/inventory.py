"""The inventory API under /api/hubgate/v1: served revisions, CycloneDX SBOMs, origin, licence and
continuity reports, and origins over time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from functools import partial
from urllib.parse import unquote

from aiohttp import web

from mirror.errors import BadRequest, NotFound
from mirror.http.handlers.auth import ApiAuth
from mirror.http.handlers.common import public_base
from mirror.http.handlers.params import int_query
from mirror.http.routes import RouteMatch
from mirror.hub.rules import parse_repo_id
from mirror.inventory import reports, timeline
from mirror.inventory.records import Inventory
from mirror.inventory.sbom import MEDIA_TYPE, Links, build_sbom
from mirror.inventory.vocabulary import GROUPINGS
from mirror.review.service import ReviewService, revision_key
from mirror.review.signoff import revision_sign_off
from mirror.review.transitions import Role
from mirror.revision.admission import Admission
from storage.audit_trail import AuditTrail
from storage.download_records import DownloadRecords
from storage.inventory_store import EVERYTHING, Scope
from storage.records import RepoKey

_SBOM_TYPE = f"{MEDIA_TYPE}; version=1.6"


class RevisionNotJudged(NotFound):
    code = "RevisionNotJudged"


class InventoryApi:
    def __init__(
        self,
        *,
        auth: ApiAuth,
        inventory: Inventory,
        downloads: DownloadRecords,
        reviews: ReviewService,
        trail: AuditTrail,
        admission: Admission,
        upstream: str,
        public_url: str | None,
    ) -> None:
        self._auth = auth
        self._inventory = inventory
        self._downloads = downloads
        self._reviews = reviews
        self._trail = trail
        self._admission = admission
        self._upstream = upstream
        self._public_url = public_url

    async def inventory(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        revisions = await self._inventory.revisions()
        return web.json_response({"items": [revision.to_dict() for revision in revisions]})

    async def timeline(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        """What was served per month or week, in all and by origin (see mirror/inventory/timeline.py)."""
        await self._auth.require(request, Role.VIEWER)
        by = request.query.get("by", "lineage")
        period = request.query.get("period", "month")
        if by not in timeline.GROUPINGS:
            raise BadRequest(f"by must be {' or '.join(timeline.GROUPINGS)}")
        if period not in timeline.PERIODS:
            raise BadRequest(f"period must be {' or '.join(timeline.PERIODS)}")
        count = int_query(request, "count", timeline.DEFAULT_COUNT[period], low=1, high=timeline.MAX_COUNT)
        now = datetime.now(UTC)
        tallies = await self._downloads.daily_tallies(since=timeline.window_start(now, period, count))
        built = timeline.timeline(
            await self._inventory.revisions(), tallies, by=by, period=period, count=count, now=now
        )
        return web.json_response(built, dumps=partial(json.dumps, indent=2))

    async def inventory_sbom(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        return await self._sbom_response(request, EVERYTHING, "inventory")

    async def revision_sbom(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        repo, commit = _revision_of(match)
        scope = Scope(repo=repo, commit_prefix=commit)
        return await self._sbom_response(request, scope, f"{repo.repo_type}:{repo.repo_id}@{commit}")

    async def revision_status(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        """One revision as the gate sees it now, whether or not a file of it was ever served: what
        `hubgate check` reads (with a viewer's token)."""
        await self._auth.require(request, Role.VIEWER)
        repo, commit = _revision_of(match)
        scope = Scope(repo=repo, commit_prefix=commit, served_only=False)
        view = next((item for item in await self._inventory.revisions(scope) if item.commit == commit), None)
        if view is None:
            raise RevisionNotJudged(
                f"hubgate never judged {repo.repo_type}:{repo.repo_id}@{commit}: fetch or prefetch it "
                "through hubgate"
            )
        # The revision review as a request would see it now (an expired waiver is a quarantine again).
        review = await self._reviews.current("revision", revision_key(repo.repo_type, repo.repo_id, commit))
        sign_off = await revision_sign_off(review, self._trail)
        body = view.to_dict()
        # Revisions are decided under the policy, its origin rules and the tables they use (publishers,
        # the entity list): a change of any makes a recorded decision stale.
        body["policy"] = {"current": self._admission.revision_version}
        body["sign_off"] = None if sign_off is None else sign_off.to_dict()
        return web.json_response(body)

    async def report(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        output = request.query.get("format", "json")
        if output not in ("json", "csv"):
            raise BadRequest("format must be json or csv")
        by = request.query.get("by", "publisher")
        if by not in GROUPINGS or (by == "lineage" and match.param("kind") != "origins"):
            raise BadRequest("by must be publisher or lineage (lineage: the origins report only)")
        built = reports.build(match.param("kind"), await self._inventory.revisions(), by=by)
        if output == "csv":
            return web.Response(text=reports.render_csv(built), content_type="text/csv")
        return web.json_response(built, dumps=partial(json.dumps, indent=2))

    async def _sbom_response(self, request: web.Request, scope: Scope, subject: str) -> web.StreamResponse:
        revisions = await self._inventory.revisions(scope)
        if scope.repo is not None and not revisions:
            raise NotFound(f"{subject} is not in the inventory: hubgate never served it")
        links = Links(hubgate=public_base(request, self._public_url), upstream=self._upstream)
        # Building and schema-validating a large BOM takes a while: off the event loop.
        build = partial(build_sbom, revisions, links=links, scope=subject)
        text = await asyncio.get_running_loop().run_in_executor(None, build)
        return web.Response(body=text.encode(), headers={"Content-Type": _SBOM_TYPE})


def _revision_of(match: RouteMatch) -> tuple[RepoKey, str]:
    """The repository and commit of an /inventory/{repo_type}/{org}/{name}/{commit}... URL."""
    params = dict(match.params)
    name = unquote(params["name"])
    repo_id = parse_repo_id(f"{unquote(params['org'])}/{name}" if "org" in params else name)
    return RepoKey(repo_type=params["repo_type"], repo_id=repo_id), params["commit"]
