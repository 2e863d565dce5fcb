"""The [origins] rules: parsing with clear errors, the most specific match deciding, fail-closed unknown
lineage, audit mode, and versions that change with the rules and the facts but leave file decisions alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirror.policy.engine import PolicyEngine, Reason, Verdict
from mirror.policy.file import PolicyError, PolicyFile, load_policy
from mirror.policy.origins import EntityMark, OriginNode, parse_entry


def _engine(tmp_path: Path, text: str) -> PolicyEngine:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return PolicyEngine(load_policy(path))


def _node(
    repo_id: str,
    *,
    depth: int = 0,
    root: bool = False,
    country: str = "unknown",
    family: str = "unknown",
    entities: tuple[EntityMark, ...] = (),
    unknown: str = "",
    path: str = "",
) -> OriginNode:
    return OriginNode(
        repo_id=repo_id,
        path=path or repo_id,
        depth=depth,
        is_root=root,
        namespace=repo_id.split("/", 1)[0] if "/" in repo_id else "",
        organisation="unknown" if country == "unknown" else "Org",
        country=country,
        family=family,
        entities=entities,
        unknown=unknown,
    )


# The lineage: an unknown org's fine-tune of a fine-tune of a CN model.
CHAIN = (
    _node("org-x/ft"),
    _node("org-y/mid", depth=1, path="org-x/ft <- org-y/mid"),
    _node(
        "Qwen/Qwen2-7B",
        depth=2,
        root=True,
        country="CN",
        family="Qwen",
        path="org-x/ft <- org-y/mid <- Qwen/Qwen2-7B",
    ),
)


def test_a_lineage_root_matching_a_review_rule_is_reviewed_with_the_path(tmp_path: Path) -> None:
    engine = _engine(tmp_path, '[origins]\nreview = ["country:CN"]\n')
    decision = engine.decide_origins(CHAIN)
    assert decision.verdict is Verdict.REVIEW
    [reason] = decision.reasons
    assert reason.rule_id == "origins.country:CN"
    assert reason.message == (
        "lineage root Qwen/Qwen2-7B matches review rule country:CN: "
        "org-x/ft <- org-y/mid <- Qwen/Qwen2-7B (country:CN)"
    )


def test_nothing_matches_nothing_is_said(tmp_path: Path) -> None:
    engine = _engine(tmp_path, '[origins]\nreview = ["country:RU"]\ndeny = ["org:evil"]\n')
    decision = engine.decide_origins(CHAIN)
    assert decision.verdict is Verdict.ALLOW
    assert decision.reasons == ()


def test_the_default_policy_has_no_origin_rules() -> None:
    assert PolicyEngine(load_policy(None)).decide_origins(CHAIN).reasons == ()


def test_deny_by_namespace_applies_to_intermediate_base_models_too(tmp_path: Path) -> None:
    engine = _engine(tmp_path, '[origins]\ndeny = ["org:ORG-Y"]\n')  # namespaces match without case
    decision = engine.decide_origins(CHAIN)
    assert decision.verdict is Verdict.DENY
    assert decision.reasons[0].message.startswith("base model org-y/mid matches deny rule org:ORG-Y")


def test_the_most_specific_entry_decides(tmp_path: Path) -> None:
    # CN reviewed, Qwen's family allowed as an exception, one Qwen namespace denied after all.
    engine = _engine(
        tmp_path, '[origins]\nreview = ["country:CN"]\nallow = ["family:Qwen"]\ndeny = ["org:qwen-evil*"]\n'
    )
    qwen = _node("Qwen/Qwen2-7B", root=True, country="CN", family="Qwen")
    deepseek = _node("deepseek-ai/R1", root=True, country="CN", family="DeepSeek")
    evil = _node("qwen-evil-fork/x", root=True, country="CN", family="Qwen")
    assert engine.decide_origins((qwen,)).verdict is Verdict.ALLOW
    assert engine.decide_origins((deepseek,)).verdict is Verdict.REVIEW
    assert engine.decide_origins((evil,)).verdict is Verdict.DENY


def test_family_matches_each_family_a_publisher_is_known_for(tmp_path: Path) -> None:
    engine = _engine(tmp_path, '[origins]\nreview = ["family:gemma"]\n')
    google = _node("google/gemma-2b", root=True, country="US", family="Gemma / T5 / BERT")
    assert engine.decide_origins((google,)).verdict is Verdict.REVIEW


def test_entity_lists_match_by_list_name_and_cannot_be_allowed_away(tmp_path: Path) -> None:
    engine = _engine(
        tmp_path, '[origins]\nallow = ["org:listed", "country:US"]\ndeny = ["entity:export-control"]\n'
    )
    listed = _node(
        "listed/model",
        root=True,
        country="US",
        entities=(EntityMark(list="export-control", name="Listed Ltd."),),
    )
    decision = engine.decide_origins((listed,))
    assert decision.verdict is Verdict.DENY
    assert decision.reasons[0].rule_id == "origins.entity:export-control"
    assert "the entity list names Listed Ltd. (export-control)" in decision.reasons[0].message
    any_list = _engine(tmp_path, '[origins]\nreview = ["entity:*"]\n')
    assert any_list.decide_origins((listed,)).verdict is Verdict.REVIEW
    assert any_list.decide_origins(CHAIN).verdict is Verdict.ALLOW


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ('review = ["country:CN"]', Verdict.REVIEW),
        ('deny = ["org:some-entity"]', Verdict.REVIEW),  # fail closed: quarantine, not a guess at deny
        ('allow = ["country:US"]', Verdict.ALLOW),  # nothing could be reviewed or denied
        ("", Verdict.ALLOW),
    ],
)
def test_an_unknown_lineage_is_reviewed_when_a_rule_could_match_beyond_it(
    tmp_path: Path, rules: str, expected: Verdict
) -> None:
    engine = _engine(tmp_path, f"[origins]\n{rules}\n")
    nodes = (
        _node("org-x/ft"),
        _node(
            "org-y/gone",
            depth=1,
            unknown="its model card could not be read (RepoNotFound: ...)",
            path="org-x/ft <- org-y/gone",
        ),
    )
    decision = engine.decide_origins(nodes)
    assert decision.verdict is expected
    if expected is Verdict.REVIEW:
        [reason] = decision.reasons
        assert reason.rule_id == "origins.lineage-unknown"
        assert "cannot be followed past org-y/gone" in reason.message
        assert "org-x/ft <- org-y/gone <- ?" in reason.message


def test_audit_mode_records_what_would_happen_without_enforcing(tmp_path: Path) -> None:
    engine = _engine(tmp_path, '[origins]\nmode = "audit"\nreview = ["country:CN"]\n')
    decision = engine.decide_origins(CHAIN)
    assert decision.verdict is Verdict.ALLOW
    assert decision.enforced == ()
    [reason] = decision.audited
    assert reason.audit_only
    assert reason.verdict is Verdict.REVIEW
    assert decision.summary().startswith("allowed (audit only: origins.country:CN would review: lineage root")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[origins]\nreview = ["CN"]\n', "must be kind:value"),
        ('[origins]\nreview = ["place:CN"]\n', "must be kind:value"),
        ('[origins]\nreview = ["country:China"]\n', "ISO 3166-1 alpha-2"),
        ('[origins]\ndeny = ["org:a/b"]\n', "Hub namespace"),
        ('[origins]\nreview = ["country:CN"]\ndeny = ["country:cn"]\n', "both review and deny"),
        ('[origins]\nallow = ["entity:export-control"]\n', "cannot be allowed"),
        ('[origins]\nmode = "loud"\n', "origins.mode"),
        ('[origins]\nblock = ["country:CN"]\n', "origins.block"),
    ],
)
def test_malformed_origin_rules_are_refused_with_the_reason(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match="origins") as caught:
        load_policy(path)
    assert problem in str(caught.value)


def test_entries_are_normalised() -> None:
    assert parse_entry("country:cn").text == "country:CN"
    assert parse_entry(" Country : Unknown ").text == "country:unknown"
    assert parse_entry("org:Some-Entity*").text == "org:Some-Entity*"


def test_origin_rules_version_revisions_but_never_rescan_files(tmp_path: Path) -> None:
    plain = _engine(tmp_path, "")
    strict = _engine(tmp_path, '[origins]\nreview = ["country:CN"]\n')
    # File decisions carry the policy fingerprint, which leaves the origin rules out: editing them
    # re-decides revisions only, and a policy from before they existed keeps its fingerprint.
    assert plain.version == strict.version == PolicyEngine(PolicyFile()).version
    assert plain.revision_version("facts") != strict.revision_version("facts")
    assert strict.revision_version("facts") != strict.revision_version("other facts")
    assert strict.revision_version("facts").startswith(strict.version + "+")


def test_a_revision_decision_extended_later_keeps_its_version(tmp_path: Path) -> None:
    engine = _engine(tmp_path, '[origins]\nreview = ["country:CN"]\n')
    decision = engine.revision_decision((engine.decide_origins(CHAIN),), facts_version="facts")
    extended = engine.extended(decision, [Reason("continuity.removed", "gone", Verdict.REVIEW)])
    assert extended.policy_version == decision.policy_version == engine.revision_version("facts")
    assert [reason.rule_id for reason in extended.reasons] == ["origins.country:CN", "continuity.removed"]
