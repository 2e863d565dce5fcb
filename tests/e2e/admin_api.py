"""Helpers for driving hubgate's own API from tests: tokens and JSON calls."""

from __future__ import annotations

import json
from typing import Any

from mirror.review.auth import generate_token, hash_token
from tests.e2e.http import Answer, request
from tests.e2e.hubgate_server import RunningHubgate

API = "/api/hubgate/v1"


def make_token(hubgate: RunningHubgate, name: str, role: str, *, expires_at: Any = None) -> str:
    token = generate_token()
    store = hubgate.components.tokens
    hubgate.run(store.create_token(name=name, role=role, token_hash=hash_token(token), expires_at=expires_at))
    return token


def call(hubgate: RunningHubgate, method: str, path: str, token: str | None, body: Any = None) -> Answer:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    return request(method, hubgate.url + API + path, headers=headers, body=data)


def ok(answer: Answer) -> Any:
    assert answer.status < 300, (answer.status, answer.header("X-Error-Message"))
    return json.loads(answer.body)
