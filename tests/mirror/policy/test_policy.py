from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mirror.hub.models import RepoRef, RepoType
from mirror.policy.engine import FileFacts, LicenceLink, PolicyEngine, Verdict
from mirror.policy.file import PolicyError, PolicyFile, load_policy
from mirror.policy.licences import Bucket
from scanners import Finding, ScanReport, ScanStatus, Severity

REPO = RepoRef(RepoType.MODEL, "acme/model")


def _engine(text: str = "", tmp_path: Path | None = None) -> PolicyEngine:
    if not text:
        return PolicyEngine(load_policy(None))
    assert tmp_path is not None
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return PolicyEngine(load_policy(path))


def _report(fmt: str, *findings: Finding, status: ScanStatus | None = None) -> ScanReport:
    worst = status or (ScanStatus.FLAGGED if findings else ScanStatus.CLEAN)
    return ScanReport("hubgate", worst, fmt, findings, "", 0.0)


FACTS = FileFacts(repo=REPO, path="pytorch_model.bin", size=100)


def test_the_shipped_default_policy_loads_and_is_versioned() -> None:
    policy = load_policy(None)
    assert policy == PolicyFile()  # the TOML states exactly the built-in defaults
    assert policy.fingerprint.startswith("default@")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version = 2\n", "version"),
        ("[repos]\nallow = 'x'\n", "repos.allow"),
        ("[licences]\nallow = ['permissive']\ndeny = ['permissive']\n", "both"),
        ("[licences]\nreview = ['nonsense']\n", "unknown licence bucket"),
        ("[formats]\npickle = 'maybe'\n", "formats.pickle"),
        ("[scanning]\nquarantine_at = 'extreme'\n", "scanning.quarantine_at"),
        ("[unknown]\nx = 1\n", "unknown"),
        ("this is = = not toml", "not valid TOML"),
        ("[[signatures]]\nmode = 'required'\n", "signatures.0.repos"),
        ("[[signatures]]\nrepos = ['a/*']\nmode = 'sometimes'\n", "signatures.0.mode"),
        (
            "[[signatures]]\nrepos = ['a/*']\npublic_keys = ['/nonexistent/key.pem']\n",
            "signatures.0: public_keys.0",
        ),
        (
            "[[signatures]]\nrepos = ['a/*']\n"
            "public_keys = ['-----BEGIN PUBLIC KEY-----\\nnope\\n-----END PUBLIC KEY-----']\n",
            "signatures.0",
        ),
        ("[[signatures]]\nrepos = ['a/*']\nkeyless = [{ identity = 'x' }]\n", "issuer"),
        ("[pinning]\napproved_only = 'acme/*'\n", "pinning.approved_only"),
        ("[continuity]\non_removed = 'keep'\n", "continuity.on_removed"),
        ("[continuity]\non_gated = 'review'\n", "continuity.on_gated"),  # gated: serve or refuse only
        ("[[continuity.rules]]\non_removed = 'refuse'\n", "continuity.rules.0.repos"),
        ("[continuity]\nmode = 'audit'\n", "continuity.mode"),
    ],
)
def test_malformed_policies_are_refused_with_the_reason(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=problem):
        load_policy(path)


def test_continuity_is_decided_per_repo_by_the_first_rule_setting_the_key(tmp_path: Path) -> None:
    path = tmp_path / "continuity.toml"
    path.write_text(
        "[continuity]\non_removed = 'review'\n"
        "[[continuity.rules]]\nrepos = ['untrusted/*']\non_removed = 'refuse'\non_gated = 'refuse'\n"
        "[[continuity.rules]]\nrepos = ['*']\non_gated = 'serve'\n"
        "[[continuity.rules]]\nrepos = ['untrusted/*']\non_removed = 'serve'\n"
    )
    engine = PolicyEngine(load_policy(path))
    untrusted = engine.continuity(RepoRef(RepoType.MODEL, "UNTRUSTED/x"))  # globs ignore case
    assert (untrusted.on_removed, untrusted.on_gated) == ("refuse", "refuse")
    other = engine.continuity(RepoRef(RepoType.MODEL, "acme/x"))
    assert (other.on("removed"), other.on("gated")) == ("review", "serve")
    reason = engine.continuity_review(RepoRef(RepoType.MODEL, "acme/x"), state="removed", message="gone")
    assert reason is not None
    assert (reason.rule_id, reason.verdict) == ("continuity.removed", Verdict.REVIEW)
    assert engine.continuity_review(RepoRef(RepoType.MODEL, "acme/x"), state="gated", message="g") is None
    default = PolicyEngine(load_policy(None)).continuity(RepoRef(RepoType.MODEL, "acme/x"))
    assert (default.on_removed, default.on_gated) == ("serve", "serve")


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.toml")


def test_clean_scan_is_allowed_and_findings_quarantine() -> None:
    engine = _engine()
    assert engine.decide_file(FACTS, [_report("safetensors")]).verdict is Verdict.ALLOW
    bad = Finding("pickle.dangerous-global", Severity.CRITICAL, "calls os.system", "data.pkl", "os.system")
    decision = engine.decide_file(FACTS, [_report("pytorch-zip", bad)])
    assert decision.verdict is Verdict.REVIEW
    assert decision.severity == "critical"
    assert [r.rule_id for r in decision.enforced] == ["pickle.dangerous-global"]


@pytest.mark.parametrize("status", [ScanStatus.ERROR, ScanStatus.UNSUPPORTED])
def test_scan_errors_and_unknown_formats_fail_closed(status: ScanStatus) -> None:
    decision = _engine().decide_file(FACTS, [_report("unknown", status=status)])
    assert decision.verdict is Verdict.REVIEW
    assert _engine().decide_file(FACTS, []).verdict is Verdict.REVIEW


def test_low_findings_stay_below_the_default_threshold() -> None:
    note = Finding("pickle.unknown-class", Severity.LOW, "unknown class", "", "mylib.Config")
    assert _engine().decide_file(FACTS, [_report("pickle", note)]).verdict is Verdict.ALLOW


def test_remote_code_needs_a_human_by_default(tmp_path: Path) -> None:
    code = Finding("remote-code.auto-map", Severity.MEDIUM, "auto_map", "config.json", "modeling_x.Model")
    assert _engine().decide_file(FACTS, [_report("json", code)]).verdict is Verdict.REVIEW
    allow = _engine('[remote_code]\naction = "allow"\n', tmp_path)
    assert allow.decide_file(FACTS, [_report("json", code)]).verdict is Verdict.ALLOW


def test_format_rules(tmp_path: Path) -> None:
    review = _engine('[formats]\npickle = "review"\n', tmp_path)
    assert review.decide_file(FACTS, [_report("pytorch-zip")]).verdict is Verdict.REVIEW
    assert review.decide_file(FACTS, [_report("safetensors")]).verdict is Verdict.ALLOW
    only = _engine('[formats]\nallowed = ["safetensors"]\n', tmp_path)
    assert only.decide_file(FACTS, [_report("pytorch-zip")]).verdict is Verdict.DENY


def test_size_limit_is_decided_before_download(tmp_path: Path) -> None:
    engine = _engine("[size]\nmax_file_bytes = 50\n", tmp_path)
    assert engine.precheck_file(FACTS).verdict is Verdict.DENY
    audit = _engine('[size]\nmode = "audit"\nmax_file_bytes = 50\n', tmp_path)
    decision = audit.precheck_file(FACTS)
    assert decision.verdict is Verdict.ALLOW
    assert decision.reasons[0].audit_only


def test_the_default_size_limit_is_the_largest_file_a_client_can_download(tmp_path: Path) -> None:
    # huggingface_hub refuses plain-HTTP downloads over 50 GB (constants.MAX_HTTP_DOWNLOAD_SIZE).
    limit = 50 * 1000**3
    for engine in (_engine(), _engine("[size]\n", tmp_path)):
        at_limit = FileFacts(repo=FACTS.repo, path="model-00001.gguf", size=limit)
        over = FileFacts(repo=FACTS.repo, path="model-00001.gguf", size=limit + 1)
        assert engine.precheck_file(at_limit).verdict is Verdict.ALLOW
        assert engine.precheck_file(over).verdict is Verdict.DENY


def test_hub_security_status_is_an_extra_signal() -> None:
    engine = _engine()
    unsafe = FileFacts(repo=REPO, path="x.bin", size=1, hub_security="unsafe")
    assert engine.decide_file(unsafe, [_report("safetensors")]).verdict is Verdict.REVIEW
    safe = FileFacts(repo=REPO, path="x.bin", size=1, hub_security="safe")
    assert engine.decide_file(safe, [_report("safetensors")]).verdict is Verdict.ALLOW


def test_signature_rules_match_the_first_entry_naming_the_repo(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "acme.pub").write_bytes(pem)
    engine = _engine(
        f'[[signatures]]\nrepos = ["acme/secret-*"]\nmode = "ignored"\n'
        f'[[signatures]]\nrepos = ["acme/*", "datasets/acme/*"]\npublic_keys = ["{tmp_path / "acme.pub"}"]\n',
        tmp_path,
    )
    assert engine.signature_trust(RepoRef(RepoType.MODEL, "other/x")) is None
    label, trust = engine.signature_trust(RepoRef(RepoType.MODEL, "acme/secret-x")) or ("", None)
    assert label == "signatures.0"
    assert trust is not None
    assert trust.mode.value == "ignored"
    label, trust = engine.signature_trust(REPO) or ("", None)
    assert label == "signatures.1"
    assert trust is not None
    assert trust.mode.value == "required"  # the default mode of an entry
    assert len(trust.public_keys) == 1


def test_pinning_globs(tmp_path: Path) -> None:
    engine = _engine('[pinning]\napproved_only = ["acme/*"]\n', tmp_path)
    assert engine.pins_to_approved(REPO)
    assert not engine.pins_to_approved(RepoRef(RepoType.MODEL, "other/x"))
    assert not PolicyEngine(load_policy(None)).pins_to_approved(REPO)  # the default pins nothing


def test_repo_globs(tmp_path: Path) -> None:
    engine = _engine('[repos]\nallow = ["acme/*", "datasets/*"]\ndeny = ["acme/secret-*"]\n', tmp_path)
    assert engine.admit_repo(REPO).verdict is Verdict.ALLOW
    assert engine.admit_repo(RepoRef(RepoType.MODEL, "acme/secret-x")).verdict is Verdict.DENY
    assert engine.admit_repo(RepoRef(RepoType.MODEL, "other/x")).verdict is Verdict.DENY
    assert engine.admit_repo(RepoRef(RepoType.DATASET, "other/x")).verdict is Verdict.ALLOW


@pytest.mark.parametrize(
    ("licences", "bucket"),
    [
        ((("apache-2.0", None),), Bucket.PERMISSIVE),
        ((("MIT", None),), Bucket.PERMISSIVE),
        ((("bsd-3-clause", None),), Bucket.PERMISSIVE),
        ((("gpl-3.0", None),), Bucket.COPYLEFT),
        ((("openrail++", None),), Bucket.RAIL),
        ((("llama3.1", None),), Bucket.VENDOR),
        ((("cc-by-nc-sa-4.0", None),), Bucket.NON_COMMERCIAL),
        ((("other", "tongyi-qianwen"),), Bucket.VENDOR),
        ((("other", "qwen-research"),), Bucket.RESEARCH),
        ((("other", "somebody-else"),), Bucket.UNKNOWN),
        (((None, None),), Bucket.UNKNOWN),
        ((("apache-2.0", None), ("cc-by-nc-4.0", None)), Bucket.NON_COMMERCIAL),
    ],
)
def test_licence_buckets(licences: tuple[tuple[str | None, str | None], ...], bucket: Bucket) -> None:
    assert _engine().licences.strictest(licences) is bucket


def test_lineage_takes_the_most_restrictive_and_says_where_from() -> None:
    engine = _engine()
    decision = engine.decide_licence(
        [LicenceLink("acme/ft", (("apache-2.0", None),)), LicenceLink("meta/base", (("llama3", None),))]
    )
    assert decision.verdict is Verdict.REVIEW
    assert "inherited from base model meta/base" in decision.reasons[0].message


def test_licence_table_can_be_extended(tmp_path: Path) -> None:
    engine = _engine('[licences.names]\n"our-terms" = "permissive"\n', tmp_path)
    assert engine.decide_licence([LicenceLink("a/b", (("other", "our-terms"),))]).verdict is Verdict.ALLOW
