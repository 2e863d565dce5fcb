"""The URL table's routes -> the handler that answers each.

Handlers are methods of small objects that take their collaborators when the app is built
(`Endpoints`); `BOUND_HANDLERS` says which method of which object answers a route, and `FREE_HANDLERS`
names the few that need no collaborator (liveness, the review page's files, fixed answers). They are
plain tables so that `tests/mirror/http/test_url_table.py` can check them against the route table and
the OpenAPI document without building an app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from mirror.http import routes
from mirror.http.handlers import admin, api, health
from mirror.http.handlers import web as review_page
from mirror.http.handlers.admin import AccountApi
from mirror.http.handlers.api import HubApi
from mirror.http.handlers.attestations import AttestationApi
from mirror.http.handlers.audit import AuditApi
from mirror.http.handlers.health import Health
from mirror.http.handlers.inventory import InventoryApi
from mirror.http.handlers.prefetch import PrefetchApi
from mirror.http.handlers.resolve import FileServer
from mirror.http.handlers.reviews import ReviewApi
from mirror.http.routes import ROUTE, Route, RouteMatch

Handler = Callable[[web.Request, RouteMatch], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The objects whose methods answer requests, each holding only what it uses."""

    health: Health
    hub_api: HubApi
    files: FileServer
    account: AccountApi
    reviews: ReviewApi
    audit: AuditApi
    prefetch: PrefetchApi
    inventory: InventoryApi
    attestations: AttestationApi


FREE_HANDLERS: Mapping[Route, Handler] = {
    Route.HEALTHZ: health.healthz,
    Route.XET_READ_TOKEN: api.xet_read_token,
    Route.ADMIN_OPENAPI: admin.openapi,
    Route.ADMIN_UNKNOWN: admin.unknown,
    Route.WEB_PAGE: review_page.page,
    Route.WEB_STATIC: review_page.static,
}

BOUND_HANDLERS: Mapping[Route, Callable[[Endpoints], Handler]] = {
    Route.READYZ: lambda e: e.health.readyz,
    Route.METRICS: lambda e: e.health.metrics,
    Route.REPO_INFO: lambda e: e.hub_api.repo_info,
    Route.TREE: lambda e: e.hub_api.tree,
    Route.PATHS_INFO: lambda e: e.hub_api.paths_info,
    Route.AUTH_CHECK: lambda e: e.hub_api.auth_check,
    Route.RESOLVE: lambda e: e.files.resolve,
    Route.ADMIN_WHOAMI: lambda e: e.account.whoami,
    Route.ADMIN_REVIEWS: lambda e: e.reviews.list_reviews,
    Route.ADMIN_REVIEW: lambda e: e.reviews.show_review,
    Route.ADMIN_REVIEW_ACTION: lambda e: e.reviews.review_action,
    Route.ADMIN_AUDIT: lambda e: e.audit.audit,
    Route.ADMIN_AUDIT_VERIFY: lambda e: e.audit.verify,
    Route.ADMIN_AUDIT_CHECKPOINT: lambda e: e.audit.checkpoint,
    Route.ADMIN_BLOB_DOWNLOADS: lambda e: e.reviews.blob_downloads,
    Route.ADMIN_PREFETCH: lambda e: e.prefetch.start,
    Route.ADMIN_PREFETCH_JOB: lambda e: e.prefetch.job,
    Route.ADMIN_INVENTORY: lambda e: e.inventory.inventory,
    Route.ADMIN_INVENTORY_SBOM: lambda e: e.inventory.inventory_sbom,
    Route.ADMIN_REVISION_SBOM: lambda e: e.inventory.revision_sbom,
    Route.ADMIN_REVISION_STATUS: lambda e: e.inventory.revision_status,
    Route.ADMIN_REPORT: lambda e: e.inventory.report,
    Route.ADMIN_REPORT_TIMELINE: lambda e: e.inventory.timeline,
    Route.ADMIN_ATTESTATION_KEY: lambda e: e.attestations.attestation_key,
    Route.ADMIN_ATTESTATION: lambda e: e.attestations.attestation,
    Route.WELL_KNOWN_KEY: lambda e: e.attestations.attestation_key,
}


class Dispatcher:
    """The app's one aiohttp handler: matches the URL table and calls the route's handler.

    It is registered when the app is created and given its endpoints once they are built at startup
    (aiohttp accepts no request before startup has finished).
    """

    def __init__(self) -> None:
        self._handlers: dict[Route, Handler] = dict(FREE_HANDLERS)

    def serve(self, endpoints: Endpoints) -> None:
        self._handlers.update({route: pick(endpoints) for route, pick in BOUND_HANDLERS.items()})

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        matched = routes.match(request.method, request.rel_url.raw_path)
        request[ROUTE] = matched.route.value
        return await self._handlers[matched.route](request, matched)
