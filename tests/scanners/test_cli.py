"""The command line: exit codes and machine-readable outputs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from scanners.cli import main
from tests.scanners import pickle_asm as asm


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "clean.pkl").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "README.md").write_text("# model")
    return tmp_path


def test_clean_folder_exits_zero(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(folder)]) == 0
    assert "2 file(s) scanned: 2 clean" in capsys.readouterr().out


def test_flagged_file_exits_one(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = folder / "evil.bin"
    evil.write_bytes(asm.program(asm.call(asm.stack_global("os", "system"), asm.text("id"))))
    assert main([str(folder)]) == 1
    assert "pickle.dangerous-global" in capsys.readouterr().out


def test_error_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"\x80\x04\x95")
    assert main([str(broken)]) == 2
    assert main([str(tmp_path / "missing")]) == 2
    capsys.readouterr()


def test_json_output(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--format", "json", str(folder)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {f["verdict"] for f in document["files"]} == {"clean"}


def test_sarif_output(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "evil.pkl").write_bytes(asm.program(asm.call(asm.stack_global("os", "system"), asm.text("id"))))
    assert main(["--format", "sarif", str(folder)]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["version"] == "2.1.0"
    rule_ids = {r["id"] for r in document["runs"][0]["tool"]["driver"]["rules"]}
    results = document["runs"][0]["results"]
    assert results
    assert all(r["ruleId"] in rule_ids for r in results)
