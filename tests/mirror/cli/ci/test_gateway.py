"""The HTTP side of lock/check against stand-in servers on loopback: which token goes where, and what a
hostile answer (a compromised hubgate, or something between it and CI) cannot make the client do. The
real hubgate's answers are covered end to end in tests/e2e/test_lock_check.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mirror.cli.ci.gateway import Gateway, GatewayError

HUBGATE_TOKEN = "hgt_" + "a" * 43
HF_TOKEN = "hf_" + "b" * 30


class Server:
    """A loopback HTTP server that answers every GET with `answer(path)` and records each request."""

    def __init__(self, answer: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.answer = answer
        self.seen: list[tuple[str, str | None]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = owner.answer.get(self.path, (404, {}, b"{}"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


FILE = {"type": "file", "path": "config.json", "size": 2, "oid": "c" * 40}
TREE = "/api/models/acme/x/tree/" + "0" * 40 + "?recursive=true"


@pytest.fixture
def elsewhere() -> Iterator[Server]:
    with Server({}) as server:
        yield server


def test_the_hub_token_goes_to_hub_protocol_calls_and_the_hubgate_token_to_its_api() -> None:
    answers: dict[str, tuple[int, dict[str, str], bytes]] = {
        "/api/models/acme/x/revision/main": (200, {}, json.dumps({"sha": "0" * 40, "id": "acme/x"}).encode()),
        "/api/hubgate/v1/reviews/3": (200, {}, b'{"id": 3}'),
    }
    with Server(answers) as hubgate:
        gateway = Gateway(hubgate.url, token=HUBGATE_TOKEN, hf_token=HF_TOKEN)
        assert gateway.resolve("model", "acme/x", "main").commit == "0" * 40
        assert gateway.review(3) == {"id": 3}
    assert hubgate.seen == [
        ("/api/models/acme/x/revision/main", f"Bearer {HF_TOKEN}"),
        ("/api/hubgate/v1/reviews/3", f"Bearer {HUBGATE_TOKEN}"),
    ]


def test_without_a_hub_token_nothing_is_sent_upstream_as_one() -> None:
    answers: dict[str, tuple[int, dict[str, str], bytes]] = {
        "/api/models/acme/x/revision/main": (200, {}, json.dumps({"sha": "0" * 40}).encode())
    }
    with Server(answers) as hubgate:
        Gateway(hubgate.url, token=HUBGATE_TOKEN).resolve("model", "acme/x", "main")
    assert hubgate.seen == [("/api/models/acme/x/revision/main", None)]


def test_a_next_page_link_to_another_origin_is_not_followed(elsewhere: Server) -> None:
    link = f'<{elsewhere.url}/steal?cursor=1>; rel="next"'
    answers = {TREE: (200, {"Link": link}, json.dumps([FILE]).encode())}
    with Server(answers) as hubgate:
        gateway = Gateway(hubgate.url, token=HUBGATE_TOKEN, hf_token=HF_TOKEN)
        with pytest.raises(GatewayError, match="leaves hubgate"):
            gateway.files("model", "acme/x", "0" * 40)
    assert elsewhere.seen == []


def test_pages_on_hubgate_are_all_read() -> None:
    second = "/api/models/acme/x/tree/" + "0" * 40 + "?recursive=true&cursor=2"
    other = {**FILE, "path": "model.safetensors", "lfs": {"oid": "d" * 64, "size": 9}, "size": 9}
    with Server({}) as hubgate:
        hubgate.answer[TREE] = (
            200,
            {"Link": f'<{hubgate.url}{second}>; rel="next"'},
            json.dumps([FILE]).encode(),
        )
        hubgate.answer[second] = (200, {}, json.dumps([other, {"type": "directory", "path": "d"}]).encode())
        files = Gateway(hubgate.url, token=HUBGATE_TOKEN).files("model", "acme/x", "0" * 40)
    assert [(f.path, f.sha256) for f in files] == [("config.json", None), ("model.safetensors", "d" * 64)]


@pytest.mark.parametrize(
    "answer",
    [
        (200, {}, b"not json"),
        (200, {}, b'{"sha": "../../etc"}'),
        (500, {"X-Error-Message": "boom"}, b""),
    ],
)
def test_a_bad_answer_is_an_error_never_a_commit(answer: tuple[int, dict[str, str], bytes]) -> None:
    with Server({"/api/models/acme/x/revision/main": answer}) as hubgate, pytest.raises(GatewayError):
        Gateway(hubgate.url, token=HUBGATE_TOKEN).resolve("model", "acme/x", "main")


def test_an_unreachable_hubgate_is_an_error() -> None:
    with Server({}) as hubgate:
        url = hubgate.url
    with pytest.raises(GatewayError, match="cannot reach hubgate") as caught:
        Gateway(url, token=HUBGATE_TOKEN).review(1)
    assert caught.value.status == 0
