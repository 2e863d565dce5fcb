"""What huggingface.co's edge does around every Hub-host request: who is calling (token or session
cookie), the rate limiter, and the headers every answer carries (RateLimit, Set-Cookie).

Runs inside `fake_server_middleware` (so faults still come first and HubErrors are rendered there):

    request  -> identify caller -> spend a rate-limit bucket (429 when spent) -> handler
    response -> on_response_prepare: RateLimit / RateLimit-Policy, `token=` clearing cookies, hf_session
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tests.fakehub import errors
from tests.fakehub.access import Caller, identify
from tests.fakehub.cookies import CLEARING_COOKIES, session_cookie, session_id_from
from tests.fakehub.hub import FakeHub
from tests.fakehub.ratelimit import Decision, Identity, bucket_of, exceeded_message

CALLER = web.RequestKey("fakehub_caller", Caller)
RATE = web.RequestKey("fakehub_rate", Decision)

ResponseHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def hub_edge_middleware(hub: FakeHub) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        refused: errors.HubError | None = None
        try:
            caller = identify(
                hub, request.headers.get("Authorization"), session_id_from(request.headers.get("Cookie"))
            )
        except errors.HubError as error:
            caller, refused = Caller(), error
        request[CALLER] = caller
        bucket = bucket_of(request.rel_url.path)
        if bucket is not None:
            # The limiter sits in front of the app: it counts (and refuses) before the token is checked.
            identity = Identity.of(user=caller.user, ip=request.remote)
            decision = hub.rate_limiter.spend(identity, bucket)
            if decision is not None:
                request[RATE] = decision
                if not decision.allowed:
                    raise _too_many_requests(exceeded_message(identity, request.remote, decision), decision)
        if refused is not None:
            raise refused
        return await handler(request)

    return middleware


def edge_headers(hub: FakeHub) -> ResponseHook:
    """The on_response_prepare hook: headers every Hub-host answer carries, errors and redirects too."""

    async def hook(request: web.Request, response: web.StreamResponse) -> None:
        for cookie in CLEARING_COOKIES:
            response.headers.add("Set-Cookie", cookie)
        caller = request.get(CALLER)
        if caller is not None and caller.token is not None and not caller.via_session:
            response.headers.add("Set-Cookie", session_cookie(hub.sessions.open(caller.token)))
        decision = request.get(RATE)
        if decision is not None:
            response.headers.update(decision.headers)

    return hook


def _too_many_requests(message: str, decision: Decision) -> errors.HubError:
    # No X-Error-Code: none is documented for the Hub's 429, so a proxy must not depend on one.
    headers = {**decision.headers, "Retry-After": str(decision.reset_in_s)}
    return errors.HubError(429, None, message, headers=headers)
