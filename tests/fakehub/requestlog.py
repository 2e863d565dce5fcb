"""Every request either fake server received, so tests can assert on traffic (counts, tokens, hosts)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from urllib.parse import parse_qsl


class Host(StrEnum):
    """Which fake server saw a request: the Hub itself or the CDN its LFS redirects point to."""

    HUB = "hub"
    CDN = "cdn"


@dataclass(frozen=True)
class RequestRecord:
    host: Host
    method: str
    path: str  # percent-decoded
    raw_path: str  # as sent, without the query string
    query_string: str
    headers: tuple[tuple[str, str], ...]
    host_header: str

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def authorization(self) -> str | None:
        return self.header("Authorization")

    @property
    def query(self) -> tuple[tuple[str, str], ...]:
        return tuple(parse_qsl(self.query_string, keep_blank_values=True))

    def matches(
        self, *, method: str | None = None, path: str | None = None, host: Host | None = None
    ) -> bool:
        """`path` is a glob (`*` crosses `/`) on the decoded path."""
        return (
            (method is None or self.method == method.upper())
            and (host is None or self.host == host)
            and (path is None or fnmatchcase(self.path, path))
        )


class RequestLog:
    """Thread-safe: the servers append on their loop thread while the test reads from its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    @property
    def records(self) -> tuple[RequestRecord, ...]:
        with self._lock:
            return tuple(self._records)

    def find(
        self, *, method: str | None = None, path: str | None = None, host: Host | None = None
    ) -> tuple[RequestRecord, ...]:
        return tuple(r for r in self.records if r.matches(method=method, path=path, host=host))

    def count(self, *, method: str | None = None, path: str | None = None, host: Host | None = None) -> int:
        return len(self.find(method=method, path=path, host=host))

    def counts(self) -> Counter[tuple[Host, str, str]]:
        """Requests per (host, method, decoded path)."""
        return Counter((r.host, r.method, r.path) for r in self.records)
