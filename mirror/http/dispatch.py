"""Route table -> handler functions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from mirror.http import routes
from mirror.http.handlers import admin, api, attestations, health, inventory, resolve
from mirror.http.handlers import web as review_page
from mirror.http.routes import Route, RouteMatch
from mirror.http.services import ROUTE

Handler = Callable[[web.Request, RouteMatch], Awaitable[web.StreamResponse]]

HANDLERS: dict[Route, Handler] = {
    Route.HEALTHZ: health.healthz,
    Route.READYZ: health.readyz,
    Route.METRICS: health.metrics,
    Route.REPO_INFO: api.repo_info,
    Route.TREE: api.tree,
    Route.PATHS_INFO: api.paths_info,
    Route.XET_READ_TOKEN: api.xet_read_token,
    Route.AUTH_CHECK: api.auth_check,
    Route.RESOLVE: resolve.resolve,
    Route.ADMIN_OPENAPI: admin.openapi,
    Route.ADMIN_WHOAMI: admin.whoami,
    Route.ADMIN_REVIEWS: admin.list_reviews,
    Route.ADMIN_REVIEW: admin.show_review,
    Route.ADMIN_REVIEW_ACTION: admin.review_action,
    Route.ADMIN_AUDIT: admin.audit,
    Route.ADMIN_AUDIT_VERIFY: admin.audit_verify,
    Route.ADMIN_AUDIT_CHECKPOINT: admin.audit_checkpoint,
    Route.ADMIN_BLOB_DOWNLOADS: admin.blob_downloads,
    Route.ADMIN_PREFETCH: admin.start_prefetch,
    Route.ADMIN_PREFETCH_JOB: admin.prefetch_job,
    Route.ADMIN_INVENTORY: inventory.inventory,
    Route.ADMIN_INVENTORY_SBOM: inventory.inventory_sbom,
    Route.ADMIN_REVISION_SBOM: inventory.revision_sbom,
    Route.ADMIN_REPORT: inventory.report,
    Route.ADMIN_ATTESTATION_KEY: attestations.attestation_key,
    Route.ADMIN_ATTESTATION: attestations.attestation,
    Route.WELL_KNOWN_KEY: attestations.attestation_key,
    Route.ADMIN_UNKNOWN: admin.unknown,
    Route.WEB_PAGE: review_page.page,
    Route.WEB_STATIC: review_page.static,
}


async def dispatch(request: web.Request) -> web.StreamResponse:
    matched = routes.match(request.method, request.rel_url.raw_path)
    request[ROUTE] = matched.route.value
    return await HANDLERS[matched.route](request, matched)
