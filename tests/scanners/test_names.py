"""A verdict holds for the interpretation it was made under: names of one interpretation scan alike."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanners import interpretation, representative_name, scan_file
from scanners.limits import Limits

PYTHON = b"import os\nos.system('echo hi')\n"
TEMPLATE = b"{{ ''.__class__.__mro__[1].__subclasses__() }}\n"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("notes.txt", "any"),
        ("README.md", "any"),
        ("model.safetensors", "any"),
        ("modeling_evil.py", "python"),
        ("sub/dir/Tokenizer.PY", "python"),
        ("chat_template.jinja", "jinja"),
        ("run.sh", "script"),
        ("graph.pb", "tf-graph"),
        ("model.onnx", "onnx"),
        ("flax_model.msgpack", "raw-data"),
        ("variables/variables.data-00000-of-00001", "raw-data"),
        ("evil.py.gz", "any/python"),
        ("weights.bin.gz", "any"),
        ("t.jinja.gz.xz", "any/any/jinja"),
    ],
)
def test_interpretations(path: str, expected: str) -> None:
    assert interpretation(path) == expected
    assert interpretation(representative_name(expected)) == expected


def test_a_string_no_path_yields_is_refused() -> None:
    for bogus in ("python/python", "exec", ""):
        with pytest.raises(ValueError, match="not an interpretation"):
            representative_name(bogus)


def _scan(data: bytes, name: str) -> list[tuple[str, str, tuple[str, ...]]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blob"
        path.write_bytes(data)
        reports = scan_file(path, name_hint=name, limits=Limits(time_s=10.0))
    return [(r.status.value, r.format, tuple(sorted(f.rule_id for f in r.findings))) for r in reports]


def test_the_same_bytes_mean_different_things_under_different_interpretations() -> None:
    # The bypass: the same Python is "text" as notes.txt and remote code as modeling_evil.py.
    assert _scan(PYTHON, "notes.txt") != _scan(PYTHON, "modeling_evil.py")
    assert _scan(TEMPLATE, "notes.txt") != _scan(TEMPLATE, "chat_template.jinja")


_NAMES = st.sampled_from(
    ["a.txt", "b.md", "x.py", "y/z.py", "t.jinja", "s.sh", "g.pb", "m.msgpack", "w.bin", "n.npy", "q.py.gz"]
)


@settings(max_examples=60, deadline=None)
@given(first=_NAMES, second=_NAMES, body=st.sampled_from([PYTHON, TEMPLATE, b"hello\n", b"\x00\x01\x02raw"]))
def test_names_of_one_interpretation_get_the_same_verdict(first: str, second: str, body: bytes) -> None:
    if interpretation(first) == interpretation(second):
        assert _scan(body, first) == _scan(body, second)
