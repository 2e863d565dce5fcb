"""The error tree. Only the error middleware turns these into HTTP answers.

Each error carries the HTTP status and the `X-Error-Code` the Hub client maps to a typed exception
(RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError, GatedRepoError, ...).
"""

from __future__ import annotations

from collections.abc import Mapping


class MirrorError(Exception):
    status: int = 500
    code: str = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        commit: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.commit = commit
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers: Mapping[str, str] = dict(headers or {})


class BadRequest(MirrorError):
    status = 400
    code = "BadRequest"


class InvalidRepoId(BadRequest):
    code = "InvalidRepoId"


class InvalidRevision(BadRequest):
    code = "InvalidRevision"


class InvalidPath(BadRequest):
    code = "InvalidPath"


class InvalidRange(BadRequest):
    code = "InvalidRange"


class RangeNotSatisfiable(MirrorError):
    status = 416
    code = "RangeNotSatisfiable"


class NotFound(MirrorError):
    status = 404
    code = "NotFound"


class RepoNotFound(NotFound):
    code = "RepoNotFound"


class RevisionNotFound(NotFound):
    code = "RevisionNotFound"


class EntryNotFound(NotFound):
    code = "EntryNotFound"


class AccessDenied(MirrorError):
    status = 403
    code = "GatedRepo"


class HeadersTooLarge(MirrorError):
    status = 431
    code = "HeadersTooLarge"


class XetDisabled(MirrorError):
    """hubgate never hands out Xet tokens: every byte must pass through its checks."""

    status = 403
    code = "XetDisabled"


class TooLarge(MirrorError):
    status = 413
    code = "TooLarge"


class UpstreamError(MirrorError):
    status = 502
    code = "UpstreamError"


class IntegrityError(UpstreamError):
    code = "IntegrityError"


class UpstreamProtocolError(UpstreamError):
    code = "UpstreamProtocolError"


class UpstreamRedirectRefused(UpstreamError):
    """Upstream pointed hubgate at a host or address it never goes to (see mirror.hub.egress)."""

    code = "UpstreamRedirectRefused"


class UpstreamTimeout(MirrorError):
    status = 504
    code = "UpstreamTimeout"


class UpstreamUnavailable(MirrorError):
    status = 503
    code = "UpstreamUnavailable"


class UpstreamRateLimited(UpstreamUnavailable):
    """The Hub said 429 and its announced wait has not passed: stored answers may be served instead.

    A subclass of UpstreamUnavailable, so every fallback to stored answers applies, but clients get 429
    with the wait in Retry-After (huggingface_hub 1.x waits and retries), never a 5xx.
    """

    status = 429
    code = "UpstreamRateLimited"

    def __init__(self, message: str, *, retry_after_s: int, commit: str | None = None) -> None:
        super().__init__(message, commit=commit, headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s


class StorageUnavailable(MirrorError):
    status = 503
    code = "StorageUnavailable"


class ScannerUnavailable(MirrorError):
    """The scanner pool cannot run scans at all (its workers cannot start): nothing was judged."""

    status = 503
    code = "ScannerUnavailable"

    def __init__(self, message: str, *, retry_after_s: int = 30) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class ScanPending(MirrorError):
    status = 429
    code = "ScanPending"

    def __init__(self, message: str, *, retry_after_s: int, commit: str | None = None) -> None:
        super().__init__(message, commit=commit, headers={"Retry-After": str(retry_after_s)})
