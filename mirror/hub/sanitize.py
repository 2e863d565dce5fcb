"""Scrub what upstream says before any of it reaches a client.

The Xet hints (`xetHash` in JSON, `X-Xet-*` headers, `xet-auth` links) would make the client leave
the mirror and download straight from Hugging Face's storage, bypassing every check; they never pass.
"""

from __future__ import annotations

from typing import Any

XET_JSON_KEYS = frozenset({"xetHash", "xet_hash"})


def strip_xet(document: Any) -> Any:
    """Remove Xet keys from a JSON document (a tree page, paths-info list or repo info), recursively."""
    if isinstance(document, dict):
        return {key: strip_xet(value) for key, value in document.items() if key not in XET_JSON_KEYS}
    if isinstance(document, list):
        return [strip_xet(item) for item in document]
    return document
