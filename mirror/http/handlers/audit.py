"""The audit trail API: its events, their verification, and signed checkpoints on demand."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mirror.errors import MirrorError
from mirror.http.handlers.auth import ApiAuth
from mirror.http.handlers.params import int_query
from mirror.http.routes import RouteMatch
from mirror.review.audit_verify import verify_trail
from mirror.review.checkpoints import AuditChainBroken, AuditCheckpointer
from mirror.review.transitions import Role
from storage.audit_trail import AuditTrail
from storage.objects import ObjectStore
from storage.records import AuditEvent


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "token": event.actor_token,
        "role": event.role,
        "action": event.action,
        "review_id": event.review_id,
        "subject": event.subject,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "reason": event.reason,
        "rule_ids": event.rule_ids.split(",") if event.rule_ids else [],
        "report_digest": event.report_digest,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


class AuditApi:
    def __init__(
        self,
        *,
        auth: ApiAuth,
        trail: AuditTrail,
        checkpoints: AuditCheckpointer,
        objects: ObjectStore,
    ) -> None:
        self._auth = auth
        self._trail = trail
        self._checkpoints = checkpoints
        self._objects = objects

    async def audit(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        limit = int_query(request, "limit", 500, low=1, high=5000)
        after = int_query(request, "after", 0)
        review_id = request.query.get("review_id")
        events = await self._trail.audit_events(
            after_id=after,
            limit=limit,
            review_id=None if review_id is None else int_query(request, "review_id", 0),
        )
        return web.json_response({"items": [event_json(event) for event in events]})

    async def verify(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        result = await verify_trail(self._checkpoints, store=self._trail, objects=self._objects)
        return web.json_response(result, status=200 if result["ok"] else 409)

    async def checkpoint(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        """Anchor the audit trail now (admin): a signed checkpoint of its head, exported to the object
        store."""
        await self._auth.require(request, Role.ADMIN)
        try:
            exported = await self._checkpoints.checkpoint()
        except AuditChainBroken as exc:
            raise MirrorError(str(exc), status=409, code="AuditChainBroken") from exc
        if exported is None:
            return web.json_response({"created": False, "reason": "nothing new since the last checkpoint"})
        return web.json_response(
            {
                "created": True,
                "name": exported.name,
                "digest": exported.digest,
                "last_event_id": exported.checkpoint.last_event_id,
                "head_hash": exported.checkpoint.head_hash,
            }
        )
