"""The Hub's error answers: status, `X-Error-Code`, `X-Error-Message` and a JSON `{"error": ...}` body.

The client maps codes to exceptions (utils/_http.py `hf_raise_for_status`): RepoNotFound,
RevisionNotFound, EntryNotFound and GatedRepo matter; the other codes here are ours, harmless to it.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from tests.fakehub.repo import FakeRepo

# What the Hub answers when an Authorization header carries an unknown token (the client checks this text).
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


class HubError(Exception):
    def __init__(
        self, status: int, code: str | None, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def to_response(self) -> web.Response:
        headers = {"X-Error-Message": self.message, **self.headers}
        if self.code is not None:
            headers["X-Error-Code"] = self.code
        return web.json_response({"error": self.message}, status=self.status, headers=headers)


def repo_not_found(*, authenticated: bool) -> HubError:
    # The Hub answers the same for a missing repo and a private one the caller may not read, so neither
    # leaks existence: 401 to anonymous callers, 404 to authenticated ones.
    return HubError(401 if not authenticated else 404, "RepoNotFound", "Repository not found")


def revision_not_found(revision: str) -> HubError:
    return HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")


def entry_not_found(path: str, *, commit: str) -> HubError:
    return HubError(404, "EntryNotFound", f"Entry not found: {path}", headers={"X-Repo-Commit": commit})


def gated(repo: FakeRepo, *, authenticated: bool) -> HubError:
    kind = repo.repo_type
    if not authenticated:
        message = (
            f"Access to {kind} {repo.repo_id} is restricted. You must have access to it and be "
            "authenticated to access it. Please log in."
        )
        return HubError(401, "GatedRepo", message)
    message = (
        f"Access to {kind} {repo.repo_id} is restricted and you are not in the authorized list. "
        f"Visit https://huggingface.co/{repo.repo_id} to ask for access."
    )
    return HubError(403, "GatedRepo", message)


def disabled() -> HubError:
    # The client recognises this exact message (DisabledRepoError).
    return HubError(403, "DisabledRepo", "Access to this resource is disabled.")


def invalid_credentials() -> HubError:
    return HubError(401, None, INVALID_CREDENTIALS)


def bad_request(message: str) -> HubError:
    return HubError(400, "BadRequest", message)


def route_not_found() -> HubError:
    return HubError(404, "NotFound", "Not Found")


def method_not_allowed() -> HubError:
    return HubError(405, "MethodNotAllowed", "Method Not Allowed")
