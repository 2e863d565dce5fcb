"""Repository metadata: repo info, tree pages and paths-info, cached for offline answers.

Every upstream call is made by commit, so what comes back is immutable and kept for good. Xet hints
are stripped before anything is stored or served, and the file entries seen are recorded so that a
later download can be verified against them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, quote, urlsplit

from cachetools import LRUCache

from mirror.errors import MirrorError, UpstreamProtocolError
from mirror.hub.access import AccessChecker
from mirror.hub.client import HubClient, JsonAnswer
from mirror.hub.entries import entry_from_sibling, entry_from_tree_item
from mirror.hub.models import Credentials, RepoRef
from mirror.hub.refs import Resolved, RevisionResolver
from mirror.hub.sanitize import strip_xet
from mirror.hub.upstream_state import ContinuityHooks, refused
from mirror.singleflight import SingleFlight
from storage.records import FileEntry
from storage.repository import MetadataRepository

log = logging.getLogger(__name__)
Params = tuple[tuple[str, str], ...]
_Fetch = Callable[[], Awaitable[JsonAnswer]]
_Recorder = Callable[[object], Sequence[FileEntry]]


@dataclass(frozen=True, slots=True)
class Document:
    body: bytes
    commit: str
    stale: bool
    next_cursor: str | None = None
    continuity: str | None = None  # the X-HF-Warning when continuity serves a repo the Hub no longer does


class Catalog:
    def __init__(
        self,
        *,
        hub: HubClient,
        repository: MetadataRepository,
        resolver: RevisionResolver,
        access: AccessChecker,
        continuity: ContinuityHooks | None = None,
    ) -> None:
        self._hub = hub
        self._continuity = continuity
        self._repository = repository
        self._resolver = resolver
        self._access = access
        # Entries at a commit never change: the hot ones stay in memory.
        self._entries: LRUCache[tuple[RepoRef, str, str], FileEntry] = LRUCache(maxsize=100_000)
        self._docs: SingleFlight[tuple[str, str], Document] = SingleFlight()
        self._entry_flights: SingleFlight[tuple[RepoRef, str, str, str], FileEntry | None] = SingleFlight()

    async def resolve(
        self, repo: RepoRef, revision: str | None, credentials: Credentials, *, reading_files: bool
    ) -> Resolved:
        """Resolve the revision and check the caller may see it (files of gated repos need access too)."""
        resolved = await self._resolver.resolve(repo, revision, credentials)
        # A continuity answer is a revision hubgate held while the repository was public: no check.
        if resolved.continuity is None and (
            resolved.flags.private or (reading_files and resolved.flags.gated)
        ):
            try:
                await self._access.require(repo, credentials)
            except MirrorError as exc:
                return await self._refused_access(repo, resolved, exc)
        return resolved

    async def _refused_access(self, repo: RepoRef, resolved: Resolved, error: MirrorError) -> Resolved:
        """The Hub refused this caller a private or gated repository: when the refusal says the repository
        is gone or gated, continuity may still serve a commit hubgate held while it was public."""
        observation = refused(error)
        if observation is None or self._continuity is None:
            raise error
        await self._continuity.refused(repo, resolved.commit, observation)
        notice = await self._continuity.carry_on(repo, resolved.commit, observation, error)
        return replace(resolved, continuity=notice)

    async def repo_info(
        self, repo: RepoRef, revision: str | None, params: Params, credentials: Credentials
    ) -> Document:
        resolved = await self.resolve(repo, revision, credentials, reading_files=False)
        path = f"/api/{repo.repo_type.api_segment}/{repo.repo_id}/revision/{resolved.commit}"
        key = _doc_key("info", repo, resolved.commit, "", params)

        def record(document: object) -> Sequence[FileEntry]:
            siblings = document.get("siblings") if isinstance(document, dict) else None
            found = (entry_from_sibling(item) for item in siblings or ())
            return [entry for entry in found if entry is not None]

        return await self._cached(
            repo,
            resolved,
            key=key,
            kind="info",
            fetch=lambda: self._hub.get_json(path, params=params, credentials=credentials),
            record=record,
            credentials=credentials,
        )

    async def tree(
        self, repo: RepoRef, revision: str, path: str, params: Params, credentials: Credentials
    ) -> Document:
        resolved = await self.resolve(repo, revision, credentials, reading_files=False)
        upstream_path = f"/api/{repo.repo_type.api_segment}/{repo.repo_id}/tree/{resolved.commit}"
        if path:
            upstream_path += f"/{quote(path)}"
        key = _doc_key("tree", repo, resolved.commit, path, params)
        return await self._cached(
            repo,
            resolved,
            key=key,
            kind="tree",
            fetch=lambda: self._hub.get_json(upstream_path, params=params, credentials=credentials),
            record=_tree_entries,
            credentials=credentials,
        )

    async def paths_info(
        self, repo: RepoRef, revision: str, form: Params, credentials: Credentials
    ) -> Document:
        resolved = await self.resolve(repo, revision, credentials, reading_files=False)
        upstream_path = f"/api/{repo.repo_type.api_segment}/{repo.repo_id}/paths-info/{resolved.commit}"
        key = _doc_key("paths-info", repo, resolved.commit, "", tuple(sorted(form)))
        return await self._cached(
            repo,
            resolved,
            key=key,
            kind="paths-info",
            fetch=lambda: self._hub.post_form(upstream_path, form=form, credentials=credentials),
            record=_tree_entries,
            credentials=credentials,
        )

    async def list_files(self, repo: RepoRef, commit: str, credentials: Credentials) -> list[FileEntry]:
        """Every file of the repo at `commit` (the recursive tree, all pages)."""
        entries: list[FileEntry] = []
        cursor: str | None = None
        while True:
            params: Params = (("recursive", "true"),)
            if cursor:
                params += (("cursor", cursor),)
            page = await self.tree(repo, commit, "", params, credentials)
            for item in json.loads(page.body):
                entry = entry_from_tree_item(item)
                if entry is not None:
                    entries.append(entry)
            cursor = page.next_cursor
            if cursor is None:
                return entries

    async def file_entry(
        self, repo: RepoRef, commit: str, path: str, credentials: Credentials
    ) -> FileEntry | None:
        """The entry of a file at a commit: from memory or the database, else from upstream's paths-info."""
        entry = self._entries.get((repo, commit, path))
        if entry is None:
            entry = await self._repository.get_file_entry(repo.key, commit, path)
        if entry is not None:
            self._entries[(repo, commit, path)] = entry
            return entry
        flight = self._entry_flights.start(
            (repo, commit, path, self._sharer(repo, credentials)),
            lambda: self._fetch_entry(repo, commit, path, credentials),
        )
        return await asyncio.shield(flight)

    async def _fetch_entry(
        self, repo: RepoRef, commit: str, path: str, credentials: Credentials
    ) -> FileEntry | None:
        stored = await self._repository.get_file_entry(repo.key, commit, path)
        if stored is not None:  # recorded by a flight that finished after the caller looked
            return stored
        upstream_path = f"/api/{repo.repo_type.api_segment}/{repo.repo_id}/paths-info/{commit}"
        answer = await self._hub.post_form(upstream_path, form=(("paths", path),), credentials=credentials)
        entries = _tree_entries(answer.parsed())
        await self._repository.save_file_entries(repo.key, commit, entries)
        return next((found for found in entries if found.path == path), None)

    async def security_status(
        self, repo: RepoRef, commit: str, path: str, credentials: Credentials
    ) -> str | None:
        """The Hub's own scan verdict for a file (`securityFileStatus.status`), or None when unknown.

        An extra signal only: when upstream cannot say, the decision rests on hubgate's own scan.
        """
        upstream_path = f"/api/{repo.repo_type.api_segment}/{repo.repo_id}/paths-info/{commit}"
        try:
            answer = await self._hub.post_form(
                upstream_path, form=(("paths", path), ("expand", "true")), credentials=credentials
            )
            document = answer.parsed()
        except MirrorError as exc:
            log.info("no Hub security status for %s@%s %s: %s", repo, commit, path, exc.message)
            return None
        for item in document if isinstance(document, list) else ():
            if isinstance(item, dict) and item.get("path") == path:
                status = item.get("securityFileStatus")
                if isinstance(status, dict) and isinstance(status.get("status"), str):
                    return str(status["status"])
        return None

    async def _cached(
        self,
        repo: RepoRef,
        resolved: Resolved,
        *,
        key: str,
        kind: str,
        fetch: _Fetch,
        record: _Recorder,
        credentials: Credentials,
    ) -> Document:
        stored = await self._stored_doc(key, resolved)
        if stored is not None:
            return stored
        # A document at a commit is the same for everyone who may read it: concurrent misses share one call
        # (one per upstream identity unless the repository is public, so one caller's refusal stays theirs).
        flight = self._docs.start(
            (key, self._sharer(repo, credentials)),
            lambda: self._fetch_doc(repo, resolved, key=key, kind=kind, fetch=fetch, record=record),
        )
        return await asyncio.shield(flight)

    async def _stored_doc(self, key: str, resolved: Resolved) -> Document | None:
        stored = await self._repository.get_doc(key)
        if stored is None:
            return None
        return _document(resolved, stored.body, stored.next_cursor)

    def _sharer(self, repo: RepoRef, credentials: Credentials) -> str:
        return "public" if self._resolver.is_public(repo) else credentials.identity

    async def _fetch_doc(
        self,
        repo: RepoRef,
        resolved: Resolved,
        *,
        key: str,
        kind: str,
        fetch: _Fetch,
        record: _Recorder,
    ) -> Document:
        # A flight that finished between the caller's lookup and this one's start has stored it already.
        stored = await self._stored_doc(key, resolved)
        if stored is not None:
            return stored
        answer = await fetch()
        document = strip_xet(answer.parsed())
        body = json.dumps(document, separators=(",", ":")).encode()
        cursor = _cursor_of(answer)
        await self._repository.save_file_entries(repo.key, resolved.commit, record(document))
        await self._repository.save_doc(key, repo=repo.key, kind=kind, body=body, next_cursor=cursor)
        return _document(resolved, body, cursor)


def _document(resolved: Resolved, body: bytes, next_cursor: str | None) -> Document:
    """A document as answered for `resolved`: stored or fetched, it carries the revision's state."""
    return Document(
        body=body,
        commit=resolved.commit,
        stale=resolved.stale,
        next_cursor=next_cursor,
        continuity=resolved.continuity,
    )


def _tree_entries(document: object) -> list[FileEntry]:
    if not isinstance(document, list):
        msg = "upstream answered a tree or paths-info that is not a list"
        raise UpstreamProtocolError(msg)
    found = (entry_from_tree_item(item) for item in document)
    return [entry for entry in found if entry is not None]


def _cursor_of(answer: JsonAnswer) -> str | None:
    if answer.link_next is None:
        return None
    cursors = parse_qs(urlsplit(answer.link_next).query).get("cursor")
    if not cursors:
        msg = "upstream announced a next page without a cursor"
        raise UpstreamProtocolError(msg)
    return cursors[0]


def _doc_key(kind: str, repo: RepoRef, commit: str, path: str, params: Params) -> str:
    canonical = json.dumps([kind, repo.repo_type.value, repo.repo_id, commit, path, sorted(params)])
    return hashlib.sha256(canonical.encode()).hexdigest()
