"""The lock file: stable TOML that reads back to what was written, and clear errors for anything else."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mirror.cli.ci import lockfile
from mirror.cli.ci.lockfile import GateFacts, LockedFile, LockEntry, LockFileError, Place, SignOff

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _entry(repo: str, *, revision: str = "main") -> LockEntry:
    return LockEntry(
        repo=repo,
        revision=revision,
        commit=COMMIT,
        needs=("model.safetensors", "config.json", "config.json"),
        references=(Place(file="b.py", line=9, call="pipeline"), Place(file="a.py", line=3, call="config")),
        gate=GateFacts(
            licence="llama3.2",
            licence_bucket="vendor",
            licence_verdict="review",
            origin="Meta (US)",
            review="APPROVED",
            review_id=7,
            signature="unchecked",
            sign_off=SignOff(
                by="legal@corp", reason='contract "L-42"\nsigned', at="2026-01-01T00:00:00+00:00"
            ),
        ),
        files=(
            LockedFile(path="model.safetensors", size=10, sha256="a" * 64, git_oid="b" * 40, lfs=True),
            LockedFile(path="config.json", size=2, git_oid="c" * 40, review="not-fetched"),
        ),
    )


def test_written_lock_reads_back_sorted_and_stable(tmp_path: Path) -> None:
    lock = lockfile.normalised([_entry("zeta/model"), _entry("acme/model", revision="v1")])
    path = tmp_path / "hubgate.lock"
    lockfile.write(lock, path)
    text = path.read_text()
    assert text.startswith("# hubgate lock file")
    assert tomllib.loads(text)["version"] == 1
    again = lockfile.read(path)
    assert again == lock
    assert [entry.repo for entry in again.repo] == ["acme/model", "zeta/model"]
    first = again.repo[0]
    assert first.needs == ("config.json", "model.safetensors")
    assert [place.file for place in first.references] == ["a.py", "b.py"]
    assert [item.path for item in first.files] == ["config.json", "model.safetensors"]
    assert first.gate.sign_off is not None
    assert first.gate.sign_off.reason == 'contract "L-42"\nsigned'
    # Writing the same content again gives the same bytes (a clean diff), and leaves no temporary file.
    lockfile.write(lockfile.normalised([_entry("acme/model", revision="v1"), _entry("zeta/model")]), path)
    assert path.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hubgate.lock"]
    assert lockfile.entry_lines(text) == {
        ("model", "acme/model", "v1"): text.splitlines().index("[[repo]]") + 1,
        ("model", "zeta/model", "main"): [
            i for i, line in enumerate(text.splitlines(), 1) if line == "[[repo]]"
        ][1],
    }


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("version = 2\n", "version 1"),
        ("version = 1\n[[repo]]\nrepo = 'a/b'\ncommit = 'abc'\n", "commit"),
        ("version = 1\n[[repo]]\nrepo = '../x'\ncommit = '" + COMMIT + "'\n", "repo"),
        ("version = 1\nsurprise = true\n", "surprise"),
        (
            "version = 1\n[[repo]]\nrepo = 'a/b'\ncommit = '" + COMMIT + "'\n"
            "[[repo.files]]\npath = '../../etc/passwd'\nsize = 1\ngit_oid = '" + "b" * 40 + "'\n",
            "path",
        ),
        ("version = [\n", "not valid TOML"),
    ],
)
def test_malformed_lock_files_are_refused_with_the_reason(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "hubgate.lock"
    path.write_text(text)
    with pytest.raises(LockFileError, match=complaint):
        lockfile.read(path)


def test_a_failed_write_keeps_the_old_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hubgate.lock"
    path.write_text("old\n")

    def refuse(self: Path, target: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        lockfile.write(lockfile.normalised([_entry("acme/x")]), path)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hubgate.lock"]
