"""Who is calling, and may they see a repo's metadata or download its files (private and gated repos)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakehub import errors
from tests.fakehub.hub import FakeHub
from tests.fakehub.repo import FakeRepo, RepoType


@dataclass(frozen=True)
class Caller:
    """An anonymous caller has no token; an unknown token never gets this far (401 first).

    `via_session`: identified by an `hf_session` cookie (see cookies.py), not an Authorization header;
    `token` is then the token that opened the session."""

    token: str | None = None
    user: str | None = None
    via_session: bool = False

    @property
    def authenticated(self) -> bool:
        return self.token is not None


def identify(hub: FakeHub, authorization: str | None, session_id: str | None = None) -> Caller:
    """The caller behind an Authorization header, else behind an `hf_session` cookie (as a logged-in
    browser is); raises HubError 401 for a token the Hub does not know. An unknown or stale session is
    simply anonymous."""
    if not authorization:
        token = hub.sessions.token_for(session_id) if session_id else None
        if token is not None and token in hub.users:
            return Caller(token=token, user=hub.users[token], via_session=True)
        return Caller()
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or token not in hub.users:
        raise errors.invalid_credentials()
    return Caller(token=token, user=hub.users[token])


def readable_repo(hub: FakeHub, caller: Caller, repo_type: RepoType, repo_id: str) -> FakeRepo:
    """The repo if the caller may see it exists (metadata, tree); RepoNotFound otherwise."""
    repo = hub.find_repo(repo_type, repo_id)
    if repo is None or (repo.settings.private and caller.token not in repo.settings.allowed_tokens):
        raise errors.repo_not_found(authenticated=caller.authenticated)
    if repo.settings.disabled:
        raise errors.disabled()
    return repo


def check_download(repo: FakeRepo, caller: Caller) -> None:
    """Raise GatedRepo unless the caller may download files (gated repos need accepted conditions)."""
    if repo.settings.gated and caller.token not in repo.settings.allowed_tokens:
        raise errors.gated(repo, authenticated=caller.authenticated)
