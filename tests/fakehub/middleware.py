"""What both fake servers do around every handler: log the request, apply faults, render HubErrors."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tests.fakehub.errors import HubError
from tests.fakehub.faults import Disconnect, Effect, Respond, Slow
from tests.fakehub.hub import FakeHub
from tests.fakehub.requestlog import Host, RequestRecord

EFFECTS = web.RequestKey("fakehub_effects", tuple[Effect, ...])


def record_of(request: web.Request, host: Host) -> RequestRecord:
    return RequestRecord(
        host=host,
        method=request.method,
        path=request.rel_url.path,
        raw_path=request.rel_url.raw_path,
        query_string=request.rel_url.query_string,
        headers=tuple(request.headers.items()),
        host_header=request.host,
    )


def fake_server_middleware(hub: FakeHub, host: Host) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        record = record_of(request, host)
        hub.log.append(record)
        effects = hub.faults.take(record)
        request[EFFECTS] = effects
        delay = sum(e.delay_seconds for e in effects if isinstance(e, Slow))
        if delay:
            await asyncio.sleep(delay)
        for effect in effects:
            if isinstance(effect, Disconnect):
                return _hang_up(request)
            if isinstance(effect, Respond):
                return _respond(effect)
        try:
            return await handler(request)
        except HubError as error:
            return error.to_response()

    return middleware


def _hang_up(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.close()
    # Never sent: aiohttp finds the transport closed and drops this quietly.
    return web.Response(status=503)


def _respond(effect: Respond) -> web.Response:
    headers = {"X-Error-Message": effect.message}
    if effect.error_code is not None:
        headers["X-Error-Code"] = effect.error_code
    if effect.retry_after is not None:
        headers["Retry-After"] = str(effect.retry_after)
    return web.json_response({"error": effect.message}, status=effect.status, headers=headers)
