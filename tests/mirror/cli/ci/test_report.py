"""The check report in each format: SARIF valid against the official 2.1.0 schema, JUnit that CI parsers
read (testsuite/testcase/failure), whatever text the findings carry."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from mirror.cli.ci.findings import CheckResult, EntryResult, Location, Rule
from mirror.cli.ci.lockfile import GateFacts, LockEntry, SignOff
from mirror.cli.ci.report import as_junit, as_sarif, as_table, render

SCHEMA = json.loads((Path(__file__).parents[3] / "schemas" / "sarif-schema-2.1.0.json").read_text())
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# What upstream or a repository path may bring along: XML-special, control and non-BMP characters.
AWKWARD = 'a <b> & "c" \x01\x1b[31m \ud83d\ude00 \U0001f600 ]]>'


def _result(repo: str, rules: list[Rule], *, locations: tuple[Location, ...] = ()) -> EntryResult:
    entry = LockEntry(repo=repo, commit=COMMIT)
    result = EntryResult(
        entry=entry,
        locations=locations or (Location("src/train.py", 12), Location("configs/x.yaml", 3)),
        gate=GateFacts(
            licence="llama3.2",
            licence_bucket="vendor",
            licence_verdict="review",
            review="APPROVED",
            review_id=3,
            sign_off=SignOff(kind="licence", by="legal@corp", reason=f"contract {AWKWARD}"),
        ),
    )
    for rule in rules:
        result.add(rule, f"{rule.description} {AWKWARD}", path="model.safetensors")
    return result


def _check() -> CheckResult:
    return CheckResult(
        hubgate="http://hubgate.test",
        source="hubgate.lock",
        entries=(
            _result("acme/every-rule", list(Rule)),
            _result("acme/fine", []),
            _result("acme/from-the-lock", [Rule.MOVED], locations=()),
        ),
    )


def test_sarif_is_valid_2_1_0_with_one_result_per_finding_and_place() -> None:
    document = as_sarif(_check())
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    results = document["runs"][0]["results"]
    # Every rule at both places of the first entry; the fine entry none; the third at its two default places.
    assert len(results) == 2 * len(Rule) + 2
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    places = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in results
    }
    assert ("src/train.py", 12) in places
    assert ("configs/x.yaml", 3) in places


def test_a_sarif_document_that_breaks_the_schema_is_caught() -> None:
    # The validation has teeth: a result without a message is not SARIF.
    document = as_sarif(_check())
    del document["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(document)


def test_junit_parses_with_a_testcase_per_model_and_a_failure_per_failing_one() -> None:
    root = ET.fromstring(as_junit(_check()))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"acme/every-rule@main", "acme/fine@main", "acme/from-the-lock@main"}
    assert cases["acme/fine@main"].find("failure") is None
    failure = cases["acme/every-rule@main"].find("failure")
    assert failure is not None
    assert failure.get("type") == str(next(iter(Rule)))
    assert all(str(rule) in (failure.text or "") for rule in Rule)
    assert (cases["acme/every-rule@main"].get("file"), cases["acme/every-rule@main"].get("line")) == (
        "src/train.py",
        "12",
    )
    system_out = cases["acme/fine@main"].find("system-out")
    assert system_out is not None
    assert "licence sign-off by legal@corp" in (system_out.text or "")


def test_table_and_json_say_pass_and_fail() -> None:
    table = as_table(_check())
    assert table.splitlines()[0].endswith("1 passed, 2 failed")
    assert "PASS  acme/fine@main" in table
    assert "licence sign-off by legal@corp" in table
    assert "\x1b" not in table
    assert "<U+001B>" in table
    document = json.loads(render(_check(), "json"))
    assert document["ok"] is False
    assert [entry["passed"] for entry in document["entries"]] == [False, True, False]
