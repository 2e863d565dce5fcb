"""When the Hub stops serving a repository hubgate holds revisions of: its answers read as a state.

The Hub answers a deleted repository, and a private one the caller may not read, with `RepoNotFound`
(401 to anonymous callers, 404 to others: the two cannot be told apart), a disabled one with 403 and the
message "Access to this resource is disabled.", and the files of a gated one with `GatedRepo` (401/403).
huggingface_hub's `utils/_http.py` (`hf_raise_for_status`) maps exactly these: the `X-Error-Code`
values `RepoNotFound` and `GatedRepo`, and the disabled message matched verbatim. A 401 without a code
(an unknown token: "Invalid credentials in Authorization header") says nothing about the repository.

hubgate reads each such answer, and each info answer's `private`/`gated`, as the repository's upstream
state (present, removed, gated). What follows from it (recording the change, auditing it, serving or
refusing what hubgate stored) is the business of a higher layer, reached through `ContinuityHooks`; this
module only says what the Hub said.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from mirror.errors import MirrorError
from mirror.hub.models import RepoRef
from storage.records import RepoFlags

DISABLED_MESSAGE = "Access to this resource is disabled."  # huggingface_hub's DisabledRepoError text
# What the Hub answers a token it does not know; huggingface_hub excludes it from RepoNotFound by this text.
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


class UpstreamState(StrEnum):
    PRESENT = "present"
    REMOVED = "removed"  # RepoNotFound (deleted, or made private), or disabled
    GATED = "gated"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one answer of the Hub says about a repository, in the Hub's words (`detail`)."""

    state: UpstreamState
    detail: str


def answered(flags: RepoFlags) -> Observation:
    """What an info answer (200) says: a private repository is gone for everyone the Hub does not let
    in, a gated one needs approval, anything else is present."""
    if flags.private:
        return Observation(UpstreamState.REMOVED, "the Hub says the repository is private")
    if flags.gated:
        return Observation(UpstreamState.GATED, f"the Hub says the repository is gated ({flags.gated})")
    return Observation(UpstreamState.PRESENT, "the Hub serves the repository")


def refused(error: MirrorError) -> Observation | None:
    """What a refusal from the Hub says about the repository, or None when it says nothing about it
    (rate limits, outages, an unknown token, a missing revision or file)."""
    words = f"{error.code} ({error.status}): {error.message}"
    if error.message.startswith(INVALID_CREDENTIALS):
        # Whatever code came with it: a caller with a made-up token must never mark a repository gone.
        return None
    if error.code == "GatedRepo" and error.status in (401, 403):
        return Observation(UpstreamState.GATED, words)
    if error.status == 403 and error.message == DISABLED_MESSAGE:
        return Observation(UpstreamState.REMOVED, words)
    if error.code == "RepoNotFound" and error.status in (401, 404):
        return Observation(UpstreamState.REMOVED, words)
    return None


class ContinuityHooks(Protocol):
    """The resolver and catalog call these; the revision layer decides (mirror.revision.continuity)."""

    async def holds(self, repo: RepoRef, commit: str) -> bool:
        """Whether hubgate already remembers `commit` of `repo` (and whether it was public then)."""

    async def answered(self, repo: RepoRef, commit: str, flags: RepoFlags) -> None:
        """The Hub served `commit` of `repo` with these flags: remember the revision (and whether it was
        public), and record the repository's state."""

    async def refused(self, repo: RepoRef, commit: str | None, observation: Observation) -> None:
        """The Hub refused a request about `repo` as `observation` says: record the repository's state."""

    async def carry_on(
        self, repo: RepoRef, commit: str, observation: Observation, refusal: MirrorError
    ) -> str:
        """Whether hubgate serves `commit` past the Hub's `refusal`: the X-HF-Warning to send when it
        does; raises (the refusal, or a clearer one of the same code) when it does not."""
