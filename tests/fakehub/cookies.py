"""Cookies the Hub sets: the `token=` clearing pair on every answer, and a browser session cookie.

- huggingface_hub issue #3269 records `Set-Cookie: token=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT;
  Secure; SameSite=None, token=; Domain=huggingface.co; Path=/; Expires=...; Secure; SameSite=Lax` on a
  resolve answer. That is two Set-Cookie headers that the `requests` library folded into one line; the
  fake sends them as two headers, on every answer of the Hub host.
- The Hub's web session is a cookie too: a browser that logged in is the user on every later request.
  The fake models it as `hf_session`: every answer to a request authenticated by a bearer token sets
  `hf_session=<opaque id>; Path=/; HttpOnly; SameSite=Lax`, and a later request carrying that cookie and
  no Authorization header is that user (the session maps to the token that opened it, so private and
  gated repos stay as readable as they were for the token). No `Secure` and no `Domain` attribute, so a
  client jar on plain http keeps it; note that aiohttp's default `CookieJar` still refuses every cookie
  from an IP-address host such as 127.0.0.1 unless built with `CookieJar(unsafe=True)`.
  A proxy that shares one cookie jar between its users would thus make every user the last one who
  authenticated: tests assert from the request log that no `Cookie` header reaches the fake.
"""

from __future__ import annotations

import secrets
import threading
from http.cookies import CookieError, SimpleCookie

SESSION_COOKIE = "hf_session"
CLEARING_COOKIES = (
    "token=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=None",
    "token=; Domain=huggingface.co; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=Lax",
)


def session_cookie(session_id: str) -> str:
    return f"{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax"


def session_id_from(cookie_header: str | None) -> str | None:
    """The `hf_session` value of a Cookie request header, if any."""
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


class SessionBook:
    """Open browser sessions: opaque id -> the token that opened it. Thread-safe; one id per token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, str] = {}
        self._by_token: dict[str, str] = {}

    def open(self, token: str) -> str:
        """The session id of `token`, created on its first authenticated answer."""
        with self._lock:
            session_id = self._by_token.get(token)
            if session_id is None:
                session_id = secrets.token_urlsafe(24)
                self._by_token[token] = session_id
                self._by_id[session_id] = token
            return session_id

    def token_for(self, session_id: str) -> str | None:
        with self._lock:
            return self._by_id.get(session_id)

    def clear(self) -> None:
        """Log every session out."""
        with self._lock:
            self._by_id.clear()
            self._by_token.clear()
