"""What the pipeline is asked to make available: one file of a repository at a commit."""

from __future__ import annotations

from dataclasses import dataclass

from mirror.hub.models import Credentials, RepoRef
from storage.records import FileEntry


@dataclass(frozen=True, slots=True)
class FetchRequest:
    repo: RepoRef
    commit: str
    entry: FileEntry
    credentials: Credentials
