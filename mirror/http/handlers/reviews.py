"""The review API under /api/hubgate/v1/reviews: the queue, one review with its evidence, decisions, and
who downloaded a blob."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from mirror.blobs.gate import covered_interpretations
from mirror.errors import BadRequest
from mirror.http.handlers.audit import event_json
from mirror.http.handlers.auth import ApiAuth
from mirror.http.handlers.common import public_base
from mirror.http.handlers.params import int_query, json_body, text_field
from mirror.http.routes import RouteMatch
from mirror.hub.models import RepoRef, RepoType
from mirror.hub.pathtext import hidden_characters, visible
from mirror.hub.rules import parse_repo_id
from mirror.inventory.records import upstream_text
from mirror.review.limits import MAX_WAIVER
from mirror.review.service import ReviewService, revision_key
from mirror.review.signoff import revision_sign_off
from mirror.review.transitions import SERVABLE, TRANSITIONS, Action, ReviewState, Role
from mirror.revision.continuity import Continuity
from mirror.revision.reevaluation import Reevaluator
from scanners import interpretation
from storage.audit_trail import AuditTrail
from storage.download_records import DownloadRecords
from storage.records import RefusedAttempt, RepoKey, ReviewRecord, ReviewRequest
from storage.refused_attempts import AttemptSummary, RefusedAttemptStore
from storage.repository import MetadataRepository
from storage.signature_store import SignatureStore

_PAGE_MAX = 500
_DECISIONS = {
    "approve": Action.WAIVE,
    "block": Action.BLOCK,
    "revoke": Action.REVOKE,
    "reopen": Action.REOPEN,
}
# The least role each /reviews/{id}/{action} needs (the transition table may ask for more).
_ACTION_ROLES = {
    "request": Role.REQUESTER,
    "rescan": Role.APPROVER,
    "approve": Role.APPROVER,
    "block": Role.APPROVER,
    "revoke": Role.APPROVER,
    "reopen": Role.ADMIN,
}


class ReviewApi:
    def __init__(
        self,
        *,
        auth: ApiAuth,
        reviews: ReviewService,
        reevaluator: Reevaluator,
        repository: MetadataRepository,
        downloads: DownloadRecords,
        attempts: RefusedAttemptStore,
        signature_checks: SignatureStore,
        trail: AuditTrail,
        continuity: Continuity,
        public_url: str | None,
    ) -> None:
        self._auth = auth
        self._reviews = reviews
        self._reevaluator = reevaluator
        self._repository = repository
        self._downloads = downloads
        self._attempts = attempts
        self._signature_checks = signature_checks
        self._trail = trail
        self._continuity = continuity
        self._public_url = public_url

    async def list_reviews(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        # One state or several, comma-separated: the review page's default view is QUARANTINED,PENDING.
        states = [part.strip().upper() for part in request.query.get("state", "").split(",") if part.strip()]
        unknown_states = [state for state in states if state not in ReviewState.__members__]
        if unknown_states:
            raise BadRequest(
                f"unknown state {unknown_states[0]!r}: use one or more of "
                f"{', '.join(ReviewState.__members__)}"
            )
        severity = request.query.get("severity")
        limit = int_query(request, "limit", 100, low=1, high=_PAGE_MAX)
        after = int_query(request, "after", 0)
        repo = request.query.get("repo")
        if repo is not None:
            repo = parse_repo_id(
                repo.split("/", 1)[1] if repo.startswith(("models/", "datasets/", "spaces/")) else repo
            )
        items = await self._reviews.store.list_reviews(
            states=states,
            repo=repo,
            severity=severity,
            after_id=after,
            limit=limit,
        )
        body: dict[str, Any] = {"items": [review_json(item) for item in items], "next": None}
        if len(items) == limit:
            query = {k: v for k, v in request.query.items() if k != "after"} | {"after": str(items[-1].id)}
            body["next"] = f"{public_base(request, self._public_url)}{request.path}?{urlencode(query)}"
        return web.json_response(body)

    async def show_review(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        principal = await self._auth.require(request, Role.VIEWER)
        review = await self._reviews.current_by_id(int(match.param("id")))
        body = review_json(review)
        body["actions"] = allowed_actions(review, principal.role)
        if review.subject_kind == "blob":
            body["reports"] = [
                {
                    "scanner_version": stored.scanner_version,
                    "created_at": stored.created_at.isoformat(),
                    **json.loads(stored.report_json),
                }
                for stored in await self._reviews.store.reports(review.subject)
            ]
            downloads = await self._downloads.downloads(blob_sha256=review.subject, limit=_PAGE_MAX)
            body["downloads"] = {
                "count": len(downloads),
                "identities": sorted({event.identity for _, event in downloads}),
                "latest": [_download_json(i, e) for i, e in downloads[-20:]],
            }
            body["licence_review"] = await _licence_review(self._reviews, review)
            # What the verdict covers, and every name the same bytes are served under: a reviewer
            # approving `notes.txt` must see that it is also `modeling_x.py` somewhere.
            body["interpretations"] = sorted(covered_interpretations(review))
            body["paths"] = [
                {
                    "repo": f"{repo.repo_type}s/{repo.repo_id}",
                    "commit": commit,
                    "path": path,
                    "interpretation": interpretation(path),
                    "covered": interpretation(path) in body["interpretations"],
                }
                for repo, commit, path in await self._repository.paths_of_blob(review.subject)
            ]
        # Who tried to get what this review refuses (HEAD and GET that were answered 403 because of it).
        body["attempts"] = attempts_json(await self._attempts.summary(review.id))
        body["requests"] = [_request_json(item) for item in await self._reviews.requests(review.id)]
        body["signature"] = await _signature_check(self._signature_checks, review)
        # A revision review's approval is its licence (or signature) sign-off: who, why, when, which rules.
        sign_off = await revision_sign_off(review, self._trail)
        body["sign_off"] = None if sign_off is None else sign_off.to_dict()
        if review.repo_id:
            # Whether the Hub still serves the repository: a reviewer deciding on a continuity review (or
            # on anything) should know that it vanished or was gated, and since when.
            upstream = await self._continuity.status(
                RepoRef(repo_type=RepoType(review.repo_type), repo_id=review.repo_id)
            )
            body["upstream_state"] = upstream_text(upstream)
            body["upstream"] = {
                "state": upstream.state,
                "since": None if upstream.since is None else upstream.since.isoformat(),
                "detail": upstream.detail,
            }
        body["audit"] = [event_json(e) for e in await self._trail.audit_events(review_id=review.id)]
        return web.json_response(body)

    async def review_action(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        action = match.param("action")
        review_id = int(match.param("id"))
        # Who asks is settled before the body is read: a caller without a token (or the role) gets 401
        # (403) whatever it sent, never a 400 or 413 that reveals how its body was parsed.
        principal = await self._auth.require(request, _ACTION_ROLES[action])
        data = await json_body(request)
        if action == "request":
            review = await self._reviews.request(
                review_id, principal, justification=text_field(data, "justification")
            )
        elif action == "rescan":
            current = await self._reviews.current_by_id(review_id)
            review = await self._reevaluator.rescan(current, principal, reason=text_field(data, "reason"))
        else:
            review = await self._reviews.act(
                review_id,
                _DECISIONS[action],
                principal,
                reason=text_field(data, "reason", required=True),
                expires_at=_expiry(data),
            )
        return web.json_response(review_json(review))

    async def blob_downloads(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        after = int_query(request, "after", 0)
        rows = await self._downloads.downloads(
            blob_sha256=match.param("sha256"), after_id=after, limit=_PAGE_MAX
        )
        return web.json_response({"items": [_download_json(i, e) for i, e in rows]})


def review_json(review: ReviewRecord) -> dict[str, Any]:
    return {
        "id": review.id,
        "subject_kind": review.subject_kind,
        "subject": review.subject,
        "state": review.state,
        "severity": review.severity,
        "reasons": json.loads(review.reasons),
        "repo": f"{review.repo_type}s/{review.repo_id}" if review.repo_id else "",
        "repo_type": review.repo_type,
        "repo_id": review.repo_id,
        "commit": review.commit,
        "path": review.path,
        # A path upstream listed may hold characters that hide or reorder text: said here, and escaped.
        "path_hidden_characters": list(hidden_characters(review.path or "")),
        "path_display": visible(review.path or ""),
        "size": review.size,
        "policy_version": review.policy_version,
        "scanner_version": review.scanner_version,
        "waiver": None
        if review.waiver_by is None
        else {
            "by": review.waiver_by,
            "reason": review.waiver_reason,
            "expires_at": None if review.waiver_expires_at is None else review.waiver_expires_at.isoformat(),
            "rules": json.loads(review.waived_rules or "[]"),
        },
        "request": None
        if review.requested_by is None
        else {"by": review.requested_by, "justification": review.request_justification},
        "created_at": review.created_at.isoformat(),
        "updated_at": review.updated_at.isoformat(),
    }


def _request_json(item: ReviewRequest) -> dict[str, Any]:
    return {
        "by": item.subject,
        "token": item.token_name,
        "role": item.role,
        "justification": item.justification,
        "state": item.review_state,
        "at": item.at.isoformat(),
    }


async def _signature_check(checks: SignatureStore, review: ReviewRecord) -> dict[str, str] | None:
    """How the model signature of the review's revision was judged (None: no trust rule checked it)."""
    if not review.repo_id or not review.commit:
        return None
    check = await checks.get(RepoKey(review.repo_type, review.repo_id), review.commit)
    return None if check is None else check.to_dict()


_ACTIONS = (
    ("approve", Action.WAIVE),
    ("block", Action.BLOCK),
    ("revoke", Action.REVOKE),
    ("reopen", Action.REOPEN),
    ("rescan", Action.RESCAN),
)


def allowed_actions(review: ReviewRecord, role: Role) -> list[str]:
    """The endpoints under /reviews/{id}/ this role may call in the review's current state.

    Derived from the one transition table, so a client (the review page) never keeps its own copy of the
    state machine. Four-eyes is left to the decision itself, whose refusal says why (a hidden button would
    not).
    """
    state = ReviewState(review.state)
    names = [
        name
        for name, action in _ACTIONS
        if (rule := TRANSITIONS.get((state, action))) is not None and role >= rule.least_role
    ]
    # Asking for a review is accepted in any state, but only means something while the subject is refused.
    if role >= Role.REQUESTER and state not in SERVABLE:
        names.append("request")
    return names


async def _licence_review(reviews: ReviewService, review: ReviewRecord) -> dict[str, Any] | None:
    """The licence review of the commit a blob was first seen in, if its licence needed one."""
    if not review.repo_id or not review.commit:
        return None
    revision = await reviews.current(
        "revision", revision_key(review.repo_type, review.repo_id, review.commit)
    )
    if revision is None:
        return None
    return {"id": revision.id, "state": revision.state, "reasons": json.loads(revision.reasons)}


def _expiry(data: dict[str, Any]) -> datetime | None:
    """When a waiver ends: `expires_in_s` seconds from now or `expires_at`, at most MAX_WAIVER ahead."""
    now = datetime.now(UTC)
    longest = f"at most {MAX_WAIVER.days} days"
    if "expires_in_s" in data:
        seconds = data["expires_in_s"]
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not math.isfinite(seconds)
            or not 0 < seconds <= MAX_WAIVER.total_seconds()
        ):
            raise BadRequest(f"expires_in_s must be a positive number of seconds, {longest}")
        return now + timedelta(seconds=float(seconds))
    raw = data.get("expires_at")
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(raw))
    except ValueError:
        raise BadRequest("expires_at must be an ISO 8601 date and time") from None
    parsed = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if parsed - now > MAX_WAIVER:
        raise BadRequest(f"expires_at must lie {longest} ahead")
    return parsed


def _download_json(row_id: int, event: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "at": None if event.at is None else event.at.isoformat(),
        "repo": f"{event.repo_type}s/{event.repo_id}",
        "commit": event.commit,
        "path": event.path,
        "path_display": visible(event.path),
        "identity": event.identity,
        "client": event.client,
        "state": event.state,
        "range_start": event.range_start,
        "bytes": event.bytes,
    }


def attempts_json(summary: AttemptSummary) -> dict[str, Any]:
    return {
        "count": summary.count,
        "identity_count": summary.identity_count,
        "unnamed": summary.unnamed,
        "first_at": None if summary.first_at is None else summary.first_at.isoformat(),
        "last_at": None if summary.last_at is None else summary.last_at.isoformat(),
        "by_identity": [
            {
                "identity": item.identity,
                "count": item.count,
                "first_at": item.first_at.isoformat(),
                "last_at": item.last_at.isoformat(),
                "clients": [client for client in item.clients if client],
                "folded": item.folded,
            }
            for item in summary.identities
        ],
        "latest": [_attempt_json(item) for item in summary.latest],
    }


def _attempt_json(item: RefusedAttempt) -> dict[str, Any]:
    return {
        "identity": item.identity,
        "client": item.client,
        "method": item.method,
        "repo": f"{item.repo_type}s/{item.repo_id}" if item.repo_id else "",
        "commit": item.commit,
        "path": item.path,
        "path_display": visible(item.path),
        "state": item.state,
        "count": item.count,
        "first_at": item.first_at.isoformat(),
        "last_at": item.last_at.isoformat(),
        "folded": item.folded,
    }
