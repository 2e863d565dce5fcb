"""Value objects of the Hub protocol."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

from storage.records import RepoKey

COMMIT_RE = re.compile(r"[0-9a-f]{40}")


class RepoType(StrEnum):
    MODEL = "model"
    DATASET = "dataset"
    SPACE = "space"

    @property
    def api_segment(self) -> str:
        """The plural used under /api/ (models, datasets, spaces)."""
        return f"{self.value}s"

    @property
    def url_prefix(self) -> str:
        """The prefix of resolve URLs: nothing for models, `datasets/` or `spaces/` otherwise."""
        return "" if self is RepoType.MODEL else f"{self.value}s/"

    @classmethod
    def from_api_segment(cls, segment: str) -> RepoType:
        return cls(segment.removesuffix("s"))


@dataclass(frozen=True, slots=True)
class RepoRef:
    repo_type: RepoType
    repo_id: str

    @property
    def key(self) -> RepoKey:
        return RepoKey(repo_type=self.repo_type.value, repo_id=self.repo_id)

    def __str__(self) -> str:
        return f"{self.repo_type.url_prefix}{self.repo_id}"


def is_commit(revision: str) -> bool:
    return COMMIT_RE.fullmatch(revision) is not None


@dataclass(frozen=True, slots=True)
class Credentials:
    """The bearer token hubgate sends upstream for one request, and where it came from."""

    token: SecretStr | None
    # "client" (the caller's own token), "anonymous" (no token at all), "service" (an anonymous caller,
    # upstream sees the service token, which also grants the caller its private and gated repos) or
    # "service-public" (an anonymous caller, upstream sees the service token for the rate limit, but
    # access to private and gated repos is judged as for an anonymous caller).
    source: str

    @property
    def anonymous_caller(self) -> bool:
        """The caller sent no token (whatever hubgate sends upstream on its behalf)."""
        return self.source != "client"

    def for_access_checks(self) -> Credentials:
        """The credentials whose access to a private or gated repository the caller gets."""
        if self.source == "service-public":
            return Credentials(token=None, source="anonymous")
        return self

    @property
    def identity(self) -> str:
        """A stable, non-reversible key for caching per-token answers; never the token itself."""
        if self.token is None:
            return "anonymous"
        return hashlib.sha256(self.token.get_secret_value().encode()).hexdigest()

    def authorization(self) -> dict[str, str]:
        if self.token is None:
            return {}
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}
