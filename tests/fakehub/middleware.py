"""What both fake servers do around every handler: log the request, apply faults, render HubErrors.

On the Hub host JSON error bodies (HubErrors and `Respond` faults) are compressed like every other JSON
answer when the request's Accept-Encoding allows it (see compression.py).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tests.fakehub.compression import VARY, compress, gzip_bomb, negotiate
from tests.fakehub.errors import HubError
from tests.fakehub.faults import Disconnect, Effect, GzipBomb, Redirect, Respond, Slow
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
                return await send_json_answer(request, _respond(effect), hub=hub, host=host)
            if isinstance(effect, Redirect):
                return _redirect(effect)
            if isinstance(effect, GzipBomb):
                return await _send_bomb(request, effect)
        try:
            return await handler(request)
        except HubError as error:
            return await send_json_answer(request, error.to_response(), hub=hub, host=host)

    return middleware


async def send_json_answer(
    request: web.Request, response: web.Response, *, hub: FakeHub, host: Host
) -> web.StreamResponse:
    """A small JSON answer built in memory, compressed on the Hub host when the client accepts it."""
    if host is not Host.HUB or not hub.compress:
        return response
    response.headers["Vary"] = VARY
    coding = negotiate(request.method, request.headers, enabled=True)
    body = response.body
    if coding is None or not isinstance(body, bytes):
        return response
    answer = web.StreamResponse(status=response.status, reason=response.reason, headers=response.headers)
    answer.headers.popall("Content-Length", None)
    answer.headers["Content-Encoding"] = coding
    await answer.prepare(request)
    await answer.write(compress(body, coding))
    return answer


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


def _redirect(effect: Redirect) -> web.Response:
    return web.Response(
        status=effect.status,
        text=f"Found. Redirecting to {effect.location}",
        headers={"Location": effect.location},
    )


async def _send_bomb(request: web.Request, effect: GzipBomb) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip", "Vary": VARY},
    )
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    for encoded in gzip_bomb(effect.decoded_bytes, effect.prefix):
        await response.write(encoded)
    return response
