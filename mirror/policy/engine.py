"""PolicyEngine: pure decisions over facts. No I/O: the pipeline and handlers gather the facts.

Every rule yields Reasons; rules in audit mode are recorded but never change the verdict.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from mirror.hub.models import RepoRef
from mirror.policy.file import PolicyFile
from mirror.policy.licences import DEFAULT_IDS, DEFAULT_NAMES, Bucket, LicenceTable
from mirror.policy.origins import OriginEntry, OriginNode, parse_entry
from mirror.provenance.trust import ResolvedTrust
from scanners import ScanReport, ScanStatus, Severity

# Formats whose loading unpickles data (and so can run code); the scanner's format names.
PICKLE_FORMATS = frozenset(
    {"pickle", "pytorch-zip", "pytorch-legacy", "torchscript", "joblib-zfile", "joblib"}
)
PICKLE_RULE_HINTS = ("pickle.", "numpy.object-array", "pytorch.legacy-tar")
_MAX_ORIGIN_REASONS = 20  # a merge of merges can match one rule many times; the first ones say enough
_MESSAGE = 500


class Verdict(IntEnum):
    ALLOW = 0
    REVIEW = 1
    DENY = 2


@dataclass(frozen=True, slots=True)
class Reason:
    rule_id: str
    message: str
    verdict: Verdict
    audit_only: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "message": self.message,
            "verdict": self.verdict.name.lower(),
            "audit_only": self.audit_only,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reasons: tuple[Reason, ...]
    severity: str
    policy_version: str

    @property
    def enforced(self) -> tuple[Reason, ...]:
        return tuple(
            reason for reason in self.reasons if not reason.audit_only and reason.verdict > Verdict.ALLOW
        )

    @property
    def audited(self) -> tuple[Reason, ...]:
        """What rules in audit mode would have done: recorded, never enforced."""
        return tuple(
            reason for reason in self.reasons if reason.audit_only and reason.verdict > Verdict.ALLOW
        )

    def summary(self) -> str:
        blocking = self.enforced
        if not blocking:
            audited = self.audited
            if not audited:
                return "allowed"
            would = "; ".join(
                f"{reason.rule_id} would {reason.verdict.name.lower()}: {reason.message}"
                for reason in audited[:5]
            )
            return f"allowed (audit only: {would})"
        return "; ".join(f"{reason.rule_id}: {reason.message}" for reason in blocking[:5])


@dataclass(frozen=True, slots=True)
class ContinuityChoice:
    """What to do with a repository's revisions held while public, once the Hub stops serving them."""

    on_removed: str  # "serve" | "review" | "refuse"
    on_gated: str  # "serve" | "refuse"

    def on(self, state: str) -> str:
        """The choice for an upstream state ("removed" or "gated")."""
        return self.on_removed if state == "removed" else self.on_gated


@dataclass(frozen=True, slots=True)
class FileFacts:
    repo: RepoRef
    path: str
    size: int
    hub_security: str | None = None  # the Hub's securityFileStatus.status, when known


@dataclass(frozen=True, slots=True)
class LicenceLink:
    """One repository in a base_model lineage and the licences its card states."""

    repo_id: str
    licences: tuple[tuple[str | None, str | None], ...]  # (license, license_name)


class PolicyEngine:
    def __init__(self, policy: PolicyFile) -> None:
        self.policy = policy
        self.version = policy.fingerprint
        rules = policy.licences
        self._trust = [rule.resolve() for rule in policy.signatures]
        self.licences = LicenceTable(
            ids={**DEFAULT_IDS, **{key.lower(): Bucket.parse(v) for key, v in rules.ids.items()}},
            names={**DEFAULT_NAMES, **{key.lower(): Bucket.parse(v) for key, v in rules.names.items()}},
        )
        origins = policy.origins
        self._origin_entries: tuple[tuple[OriginEntry, Verdict], ...] = tuple(
            (parse_entry(text), verdict)
            for texts, verdict in (
                (origins.allow, Verdict.ALLOW),
                (origins.review, Verdict.REVIEW),
                (origins.deny, Verdict.DENY),
            )
            for text in texts
        )

    def _decision(self, reasons: Iterable[Reason], severity: str = "") -> Decision:
        collected = tuple(reasons)
        verdict = max((r.verdict for r in collected if not r.audit_only), default=Verdict.ALLOW)
        return Decision(verdict=verdict, reasons=collected, severity=severity, policy_version=self.version)

    def decide(self, reasons: Iterable[Reason], severity: str = "") -> Decision:
        """A decision resting on `reasons` alone (e.g. a revision's continuity review)."""
        return self._decision(reasons, severity)

    def extended(self, decision: Decision, extra: Iterable[Reason], severity: str = "") -> Decision:
        """`decision` with more reasons (e.g. a revision's continuity next to its licence), under the
        version it was made under (a revision decision's is not the policy's own)."""
        added = tuple(extra)
        if not added:
            return decision
        extended = self._decision((*decision.reasons, *added), severity or decision.severity)
        return Decision(
            verdict=extended.verdict,
            reasons=extended.reasons,
            severity=extended.severity,
            policy_version=decision.policy_version,
        )

    # -- repositories --------------------------------------------------------------------------------

    def admit_repo(self, repo: RepoRef, *, aliases: Sequence[RepoRef] = ()) -> Decision:
        """Decide on the canonical `repo`; a deny rule matching any spelling a client used denies too."""
        rules = self.policy.repos
        audit = rules.mode == "audit"
        denied = next((name for name in (repo, *aliases) if _matches(name, rules.deny)), None)
        if denied is not None:
            shown = f"{repo}" if denied == repo else f"{repo} (asked for as {denied})"
            return self._decision(
                [Reason("repos.denied", f"{shown} is on the deny list", Verdict.DENY, audit)]
            )
        if not _matches(repo, rules.allow):
            return self._decision(
                [Reason("repos.not-allowed", f"{repo} is not on the allow list", Verdict.DENY, audit)]
            )
        return self._decision([])

    def signature_trust(self, repo: RepoRef) -> tuple[str, ResolvedTrust] | None:
        """The first [[signatures]] rule naming the repo (its label and loaded trust), or None."""
        for index, rule in enumerate(self.policy.signatures):
            if _matches(repo, rule.repos):
                return f"signatures.{index}", self._trust[index]
        return None

    def pins_to_approved(self, repo: RepoRef) -> bool:
        """Whether the policy puts the repo under approved-revision pinning."""
        return _matches(repo, self.policy.pinning.approved_only)

    def continuity(self, repo: RepoRef) -> ContinuityChoice:
        """What to do with the repo's revisions held while public once the Hub stops serving them: the
        first [[continuity.rules]] entry naming the repo and setting a key decides it, else the default."""
        rules = self.policy.continuity
        on_removed = next(
            (r.on_removed for r in rules.rules if r.on_removed is not None and _matches(repo, r.repos)),
            rules.on_removed,
        )
        on_gated = next(
            (r.on_gated for r in rules.rules if r.on_gated is not None and _matches(repo, r.repos)),
            rules.on_gated,
        )
        return ContinuityChoice(on_removed=on_removed, on_gated=on_gated)

    def continuity_review(self, repo: RepoRef, *, state: str, message: str) -> Reason | None:
        """The reason a revision held while public goes back to review (`on_removed = "review"`), or None
        when the policy serves or refuses it instead."""
        if self.continuity(repo).on(state) != "review":
            return None
        return Reason(f"continuity.{state}", message, Verdict.REVIEW)

    # -- licences ------------------------------------------------------------------------------------

    def decide_licence(self, lineage: Sequence[LicenceLink]) -> Decision:
        """The most restrictive licence over the repository and its base_model lineage decides."""
        rules = self.policy.licences
        audit = rules.mode == "audit"
        worst: tuple[Bucket, LicenceLink, str] | None = None
        for link in lineage:
            stated = link.licences or ((None, None),)
            for licence, name in stated:
                bucket = self.licences.bucket(licence, name)
                shown = (
                    f"other ({name})" if (licence or "").lower() == "other" else (licence or "none stated")
                )
                if worst is None or bucket > worst[0]:
                    worst = (bucket, link, shown)
        if worst is None:
            return self._decision(
                [Reason("licence.missing", "no licence information", Verdict.REVIEW, audit)]
            )
        bucket, link, shown = worst
        verdict = self._bucket_verdict(bucket.label)
        where = "" if link is lineage[0] else f" (inherited from base model {link.repo_id})"
        message = f"licence {shown} is in the {bucket.label} bucket{where}"
        return self._decision([Reason(f"licence.{bucket.label}", message, verdict, audit)])

    def _bucket_verdict(self, label: str) -> Verdict:
        rules = self.policy.licences
        if label in rules.deny:
            return Verdict.DENY
        if label in rules.allow:
            return Verdict.ALLOW
        return Verdict.REVIEW  # listed under review, or not listed at all: a human decides

    # -- origins -----------------------------------------------------------------------------------------

    def decide_origins(self, nodes: Sequence[OriginNode]) -> Decision:
        """The origin rules over a revision's publisher and its lineage (`nodes`, the revision's own
        repository first). A lineage that cannot be followed to its end is reviewed when any review or
        deny entry exists: what lies beyond could match it (fail closed)."""
        rules = self.policy.origins
        audit = rules.mode == "audit"
        reasons: list[Reason] = []
        for node in nodes:
            matched = self._origin_match(node)
            if matched is None or matched[1] is Verdict.ALLOW or len(reasons) >= _MAX_ORIGIN_REASONS:
                continue
            entry, verdict = matched
            action = verdict.name.lower()
            message = (
                f"{node.role} {node.repo_id} matches {action} rule {entry.text}: {node.path} ({entry.text})"
            )
            if node.entities and entry.kind == "entity":
                named = ", ".join(f"{mark.name} ({mark.list})" for mark in node.entities[:3])
                message += f"; the entity list names {named}"
            reasons.append(Reason(f"origins.{entry.text}", message[:_MESSAGE], verdict, audit))
        incomplete = [node for node in nodes if node.unknown]
        if incomplete and rules.restrictive:
            first = incomplete[0]
            could = ", ".join((*rules.deny, *rules.review))
            more = f" (and {len(incomplete) - 1} more such places)" if len(incomplete) > 1 else ""
            message = (
                f"the lineage cannot be followed past {first.repo_id}: {first.unknown}{more}; origin rules "
                f"({could}) could match there: {first.path} <- ?"
            )
            reasons.append(Reason("origins.lineage-unknown", message[:_MESSAGE], Verdict.REVIEW, audit))
        return self._decision(reasons)

    def _origin_match(self, node: OriginNode) -> tuple[OriginEntry, Verdict] | None:
        """The most specific entry matching `node` (the stricter of equally specific ones)."""
        matches = [(entry, verdict) for entry, verdict in self._origin_entries if entry.matches(node)]
        if not matches:
            return None
        return max(matches, key=lambda item: (item[0].specificity, item[1]))

    def revision_version(self, facts_version: str) -> str:
        """The version of a revision decision: the policy's, its origin rules', and the version of the facts
        they were applied to (publisher table and entity list), so a change of any is re-evaluated."""
        origins = hashlib.sha256(f"{self.policy.origins_fingerprint}+{facts_version}".encode()).hexdigest()
        return f"{self.version}+{origins[:12]}"

    def revision_decision(
        self,
        parts: Sequence[Decision],
        *,
        extra: Iterable[Reason] = (),
        facts_version: str,
        severity: str = "",
    ) -> Decision:
        """One decision over a whole revision (licence, origins, signature): every reason, the strictest
        verdict, under the revision version."""
        reasons = (*(reason for part in parts for reason in part.reasons), *extra)
        decision = self._decision(reasons, severity)
        return Decision(
            verdict=decision.verdict,
            reasons=decision.reasons,
            severity=decision.severity,
            policy_version=self.revision_version(facts_version),
        )

    # -- files ------------------------------------------------------------------------------------------

    def precheck_file(self, facts: FileFacts) -> Decision:
        """What can be decided before downloading: the size limit."""
        rules = self.policy.size
        if rules.max_file_bytes and facts.size > rules.max_file_bytes:
            message = f"{facts.path} is {facts.size} bytes, over the policy limit of {rules.max_file_bytes}"
            return self._decision([Reason("size.too-large", message, Verdict.DENY, rules.mode == "audit")])
        return self._decision([])

    def decide_file(self, facts: FileFacts, reports: Sequence[ScanReport]) -> Decision:
        reasons = [*self.precheck_file(facts).reasons]
        reasons.extend(self._scan_reasons(reports))
        reasons.extend(self._remote_code_reasons(reports))
        reasons.extend(self._format_reasons(reports))
        reasons.extend(self._hub_security_reasons(facts))
        return self._decision(reasons, severity=_worst_severity(reports))

    def _scan_reasons(self, reports: Sequence[ScanReport]) -> list[Reason]:
        rules = self.policy.scanning
        audit = rules.mode == "audit"
        threshold = Severity(rules.quarantine_at).rank
        reasons: list[Reason] = []
        if not reports:
            reasons.append(Reason("scan.missing", "no scanner report", Verdict.REVIEW, audit))
        for report in reports:
            if report.status is ScanStatus.ERROR:
                message = f"{report.scanner} could not scan it: {report.message}"
                reasons.append(Reason("scan.error", message, Verdict.REVIEW, audit))
            elif report.status is ScanStatus.UNSUPPORTED:
                message = f"{report.scanner}: {report.message or 'unrecognised binary content'}"
                reasons.append(Reason("scan.unsupported", message, Verdict.REVIEW, audit))
            for finding in report.findings:
                if finding.rule_id.startswith("remote-code."):
                    continue
                if finding.severity.rank >= threshold:
                    where = f" at {finding.location}" if finding.location else ""
                    evidence = f" ({finding.evidence})" if finding.evidence else ""
                    message = f"{finding.severity.value}: {finding.message}{where}{evidence}"[:500]
                    reasons.append(Reason(finding.rule_id, message, Verdict.REVIEW, audit))
        return reasons

    def _remote_code_reasons(self, reports: Sequence[ScanReport]) -> list[Reason]:
        rules = self.policy.remote_code
        verdict = {"allow": Verdict.ALLOW, "review": Verdict.REVIEW, "deny": Verdict.DENY}[rules.action]
        audit = rules.mode == "audit"
        return [
            Reason(
                finding.rule_id,
                f"remote code: {finding.message} {finding.evidence}".strip()[:500],
                verdict,
                audit,
            )
            for report in reports
            for finding in report.findings
            if finding.rule_id.startswith("remote-code.")
        ]

    def _format_reasons(self, reports: Sequence[ScanReport]) -> list[Reason]:
        rules = self.policy.formats
        audit = rules.mode == "audit"
        fmt = reports[0].format if reports else "unknown"
        reasons: list[Reason] = []
        if (rules.allowed and fmt not in rules.allowed) or fmt in rules.denied:
            reasons.append(
                Reason("format.not-allowed", f"the {fmt} format is not allowed", Verdict.DENY, audit)
            )
        if is_pickle_based(reports) and rules.pickle != "allow-when-clean":
            verdict = Verdict.REVIEW if rules.pickle == "review" else Verdict.DENY
            reasons.append(
                Reason("format.pickle", f"pickle-based {fmt} file: policy is {rules.pickle}", verdict, audit)
            )
        return reasons

    def _hub_security_reasons(self, facts: FileFacts) -> list[Reason]:
        rules = self.policy.hub_security
        if rules.action == "ignore" or (facts.hub_security or "").lower() != "unsafe":
            return []
        verdict = Verdict.REVIEW if rules.action == "review" else Verdict.DENY
        message = "the Hub's own scanner marks this file unsafe"
        return [Reason("hub.security-status", message, verdict, rules.mode == "audit")]


def _matches(repo: RepoRef, patterns: Iterable[str]) -> bool:
    """A repo glob matches `org/name` or `<type>s/org/name`, without regard to case (as the Hub matches
    repo ids: `EVIL-ORG/x` is `evil-org/x`)."""
    names = (repo.repo_id.casefold(), f"{repo.repo_type.api_segment}/{repo.repo_id}".casefold())
    return any(fnmatch.fnmatchcase(name, pattern.casefold()) for name in names for pattern in patterns)


def is_pickle_based(reports: Sequence[ScanReport]) -> bool:
    if any(report.format in PICKLE_FORMATS for report in reports):
        return True
    return any(
        finding.rule_id.startswith(PICKLE_RULE_HINTS) for report in reports for finding in report.findings
    )


def _worst_severity(reports: Sequence[ScanReport]) -> str:
    worst = [severity for report in reports if (severity := report.worst_severity) is not None]
    return max(worst, key=lambda severity: severity.rank).value if worst else ""
