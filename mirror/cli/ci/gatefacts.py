"""hubgate's answer about one revision (`GET /inventory/{type}/{repo}/{commit}`), read into plain facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mirror.cli.ci.lockfile import GateFacts, SignOff

NOT_REQUIRED = "not-required"
NOT_FETCHED = "not-fetched"


@dataclass(frozen=True, slots=True)
class FileState:
    state: str  # a review state, or not-fetched
    review_id: int | None
    sha256: str | None


@dataclass(frozen=True, slots=True)
class RevisionStatus:
    gate: GateFacts
    reasons_policy: str  # the policy version the licence was decided under
    current_policy: str
    files: dict[str, FileState]


def read_status(answer: dict[str, Any]) -> RevisionStatus:
    licence = answer.get("licence") or {}
    origin = answer.get("origin") or {}
    review = answer.get("review") or {}
    signature = answer.get("signature") or {}
    stated = [
        item.get("licence") or "none stated"
        if (item.get("licence") or "").lower() != "other"
        else f"other ({item.get('name')})"
        if item.get("name")
        else "other"
        for item in licence.get("stated") or []
    ]
    sign_off = answer.get("sign_off")
    gate = GateFacts(
        licence=" + ".join(stated),
        licence_bucket=str(licence.get("bucket") or ""),
        licence_verdict=str(licence.get("verdict") or ""),
        origin=_origin(origin),
        review=str(review.get("state") or ""),
        review_id=review.get("id"),
        signature=str(signature.get("status") or ""),
        sign_off=None
        if not isinstance(sign_off, dict)
        else SignOff(
            kind=str(sign_off.get("kind") or ""),
            by=str(sign_off.get("by") or ""),
            token=str(sign_off.get("token") or ""),
            reason=str(sign_off.get("reason") or ""),
            at=str(sign_off.get("at") or ""),
            expires_at=sign_off.get("expires_at"),
            rules=tuple(str(rule) for rule in sign_off.get("rules") or ()),
        ),
    )
    files = {
        str(item["path"]): FileState(
            state=str((item.get("review") or {}).get("state") or NOT_FETCHED),
            review_id=(item.get("review") or {}).get("id"),
            sha256=item.get("sha256"),
        )
        for item in answer.get("files") or []
    }
    return RevisionStatus(
        gate=gate,
        reasons_policy=str(licence.get("policy_version") or ""),
        current_policy=str((answer.get("policy") or {}).get("current") or ""),
        files=files,
    )


def _origin(origin: dict[str, Any]) -> str:
    organisation = origin.get("organisation") or origin.get("org") or ""
    country = origin.get("country") or ""
    if organisation and country and country != "unknown":
        return f"{organisation} ({country})"
    return str(organisation or "unknown")
