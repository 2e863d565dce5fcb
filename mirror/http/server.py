"""Running the app: the HTTP server options shared by `hubgate serve` and the test harness."""

from __future__ import annotations

import logging
from typing import Any

from mirror.config import Settings

_ACCESS_FORMAT = '%a "%r" %s %b %Tfs "%{User-Agent}i"'


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiohttp's AppRunner / run_app (request limits, access log)."""
    return {
        # The parser's own limit is set above ours so that the middleware, not aiohttp, refuses oversized
        # headers: the client then gets a coded error it can show, not a bare 400.
        "max_field_size": settings.server.max_field_size * 8,
        "max_line_size": settings.server.max_field_size * 8,
        "max_headers": 128,
        "access_log": logging.getLogger("hubgate.access"),
        "access_log_format": _ACCESS_FORMAT,
    }
