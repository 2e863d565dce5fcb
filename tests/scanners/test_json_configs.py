"""JSON configs are judged as ``json.loads`` reads them, at any size, in bounded memory (issue #11)."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanners import ScanStatus
from scanners.json_members import read_members
from scanners.limits import Deadline
from scanners.runner import scan_primary
from scanners.text import CONFIG_KEYS
from tests.scanners import malicious_configs as samples

WANTED = CONFIG_KEYS


def _scan(tmp_path: Path, text: str, name: str = "tokenizer_config.json") -> tuple[ScanStatus, set[str]]:
    path = tmp_path / name
    path.write_text(text)
    report = scan_primary(path, name_hint=name)
    return report.status, {f.rule_id for f in report.findings if f.severity.flags}


def _members(text: str, chunk: int) -> Any:
    data = text.encode()
    chunks = iter([data[i : i + chunk] for i in range(0, len(data), chunk)])
    return read_members(chunks, wanted=WANTED, max_value_chars=1 << 20, deadline=Deadline(60))


def test_escaped_key_in_a_large_config_is_decoded(tmp_path: Path) -> None:
    text = samples.escaped_auto_map_document()
    assert len(text) > samples.LARGE
    status, rules = _scan(tmp_path, text, "config.json")
    assert status is ScanStatus.FLAGGED
    assert "remote-code.auto-map" in rules


def test_decoy_keys_do_not_push_the_real_template_out(tmp_path: Path) -> None:
    status, rules = _scan(tmp_path, samples.decoyed_template_document(tmp_path / "m"))
    assert status is ScanStatus.FLAGGED
    assert "template.sandbox-escape" in rules


def test_every_occurrence_of_a_duplicate_key_is_checked_and_the_duplicate_reported(tmp_path: Path) -> None:
    text = samples.duplicate_template_document(tmp_path / "m")
    assert "{{" not in json.loads(text)["chat_template"].split("%}")[0]  # json.loads keeps the benign one
    status, rules = _scan(tmp_path, text)
    assert status is ScanStatus.FLAGGED
    assert {"config.duplicate-key", "template.sandbox-escape"} <= rules


@pytest.mark.parametrize("padding", [0, samples.LARGE])
def test_small_and_large_documents_are_judged_alike(tmp_path: Path, padding: int) -> None:
    # One judge: the same members give the same findings whether or not a vocabulary makes them large.
    members = {
        "vocab": samples.filler(padding) if padding else {},
        "chat_template": [
            {"name": "default", "template": "{{ messages[0].content }}"},
            {"name": "tool_use", "template": samples.evil_template(tmp_path / "m")},
        ],
        "auto_map": {"AutoTokenizer": ["tok.Tok", None]},
    }
    status, rules = _scan(tmp_path, json.dumps(members))
    assert status is ScanStatus.FLAGGED
    assert {"template.sandbox-escape", "remote-code.auto-map"} <= rules
    assert rules == _scan(tmp_path, json.dumps({**members, "vocab": {}}))[1]


def test_a_value_after_nan_is_still_seen(tmp_path: Path) -> None:
    # json.dumps writes NaN and json.loads reads it; a strict JSON parser would stop before auto_map.
    text = json.dumps({"layer_norm_eps": math.nan, "vocab": samples.filler(samples.LARGE)})[:-1]
    _, rules = _scan(tmp_path, text + ', "auto_map": {"AutoModel": "m.M"}}', "config.json")
    assert "remote-code.auto-map" in rules


def test_plain_large_json_is_clean_and_jsonl_is_text(tmp_path: Path) -> None:
    status, rules = _scan(tmp_path, json.dumps({"model": {"vocab": samples.filler(samples.LARGE)}}))
    assert status is ScanStatus.CLEAN, rules
    path = tmp_path / "data.json"
    path.write_text('{"a": 1}\n{"a": 2}\n')
    report = scan_primary(path)
    assert (report.status, report.format) == (ScanStatus.CLEAN, "text")


def test_an_oversized_value_is_a_finding_not_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer_config.json"
    path.write_text(json.dumps({"chat_template": "x" * (20 << 20)}))
    report = scan_primary(path)
    assert report.status is ScanStatus.FLAGGED
    assert "limit.exceeded" in {f.rule_id for f in report.findings}


def test_a_large_document_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"model": {"vocab": samples.filler(48 << 20)}, "auto_map": {"A": "b.C"}}))
    tracemalloc.start()
    try:
        report = scan_primary(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "remote-code.auto-map" in {f.rule_id for f in report.findings}
    assert peak < 16 << 20, f"peak {peak >> 20} MiB for a {path.stat().st_size >> 20} MiB document"


# --- the reader agrees with json.loads ------------------------------------------------------------------
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12),
    st.just("\ud800 lone surrogate"),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["a", "auto_map", "chat_template", "}", '"', "\\"]), inner, max_size=4
        )
    ),
    max_leaves=20,
)
_KEYS = st.sampled_from(["auto_map", "chat_template", "custom_pipelines", "x", "auto\u005fmap", "[{"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_KEYS, _VALUES), max_size=6),
    st.booleans(),
    st.sampled_from([None, 0, 2]),
    st.integers(1, 64),
)
def test_the_reader_sees_what_json_loads_sees(
    pairs: list[tuple[str, Any]], ascii_only: bool, indent: int | None, chunk: int
) -> None:
    # Duplicate keys are written by hand: json.dumps of a dict cannot repeat one.
    body = ", ".join(
        f"{json.dumps(k, ensure_ascii=ascii_only)}: {json.dumps(v, ensure_ascii=ascii_only, indent=indent)}"
        for k, v in pairs
    )
    text = "{" + body + "}"
    if not ascii_only and any("\ud800" <= char <= "\udfff" for char in text):
        return  # a lone surrogate reaches a file only as the escape ensure_ascii writes
    expected = json.loads(text)
    found = _members(text, chunk)
    assert found.valid
    assert found.is_object
    last = dict(found.members)
    for key in WANTED:
        assert (key in last) == (key in expected)
        if key in expected:
            assert json.dumps(last[key]) == json.dumps(expected[key])  # NaN != NaN, so compare spellings
    assert [k for k, _ in found.members] == [k for k, _ in pairs if k in WANTED]
