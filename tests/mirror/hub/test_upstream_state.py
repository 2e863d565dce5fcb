"""Which answers of the Hub say a repository is gone or gated (huggingface_hub `hf_raise_for_status`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mirror.errors import MirrorError, UpstreamRateLimited, UpstreamUnavailable
from mirror.hub.upstream_state import DISABLED_MESSAGE, UpstreamState, answered, refused
from storage.records import RepoFlags


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (404, "RepoNotFound", "Repository not found", UpstreamState.REMOVED),
        (401, "RepoNotFound", "Repository not found", UpstreamState.REMOVED),  # anonymous caller
        (403, "DisabledRepo", DISABLED_MESSAGE, UpstreamState.REMOVED),
        (403, "Forbidden", DISABLED_MESSAGE, UpstreamState.REMOVED),  # matched on the message alone
        (401, "GatedRepo", "Access to model x is restricted.", UpstreamState.GATED),
        (403, "GatedRepo", "you are not in the authorized list", UpstreamState.GATED),
        # An unknown token says nothing about the repository; nor do missing revisions or files.
        (401, "Unauthorized", "Invalid credentials in Authorization header", None),
        (401, "RepoNotFound", "Invalid credentials in Authorization header", None),
        (404, "RevisionNotFound", "Invalid rev id: x", None),
        (404, "EntryNotFound", "Entry not found", None),
        (404, "NotFound", "Not Found", None),
        (403, "Forbidden", "nope", None),
    ],
)
def test_refusals_read_as_a_state(
    status: int, code: str, message: str, expected: UpstreamState | None
) -> None:
    observation = refused(MirrorError(message, status=status, code=code))
    assert (None if observation is None else observation.state) is expected
    if observation is not None:
        assert code in observation.detail
        assert message in observation.detail


def test_outages_and_rate_limits_are_no_answer_about_the_repository() -> None:
    assert refused(UpstreamUnavailable("upstream is unreachable")) is None
    assert refused(UpstreamRateLimited("slow down", retry_after_s=5)) is None


def test_info_answers_read_as_a_state() -> None:
    now = datetime.now(UTC)
    assert answered(RepoFlags(private=False, gated="", checked_at=now)).state is UpstreamState.PRESENT
    assert answered(RepoFlags(private=False, gated="manual", checked_at=now)).state is UpstreamState.GATED
    # Private is gone for everyone the Hub does not let in (and gated besides changes nothing).
    assert answered(RepoFlags(private=True, gated="auto", checked_at=now)).state is UpstreamState.REMOVED
