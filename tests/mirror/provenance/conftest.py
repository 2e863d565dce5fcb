"""Helpers for provenance tests: small model directories and the real `model_signing` CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.mirror.provenance.pki import new_key, private_pem, public_pem

MODEL_SIGNING = Path(sys.executable).parent / "model_signing"

MODEL_FILES: dict[str, bytes] = {
    "config.json": b'{"architectures": ["TinyModel"], "hidden_size": 8}\n',
    "model.safetensors": bytes(range(256)) * 40,
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\nworld\n",
    "a.txt": b"ordering edge case: 'a.txt' sorts after 'a/b' by path components\n",
    "a/b": b"nested\n",
    "README.md": b"# tiny model\n",
}


def make_model(root: Path, files: dict[str, bytes] | None = None, *, gitattributes: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in (files or MODEL_FILES).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if gitattributes:  # every Hub repo has one; OMS verifiers ignore it
        (root / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    return root


def repo_listing(root: Path, *, unknown: tuple[str, ...] = ()) -> dict[str, str | None]:
    """What the gate knows before fetching: path -> sha256, None for the paths in `unknown`."""
    listing: dict[str, str | None] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            name = path.relative_to(root).as_posix()
            listing[name] = None if name in unknown else hashlib.sha256(path.read_bytes()).hexdigest()
    return listing


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MODEL_SIGNING), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def cli_ok(*args: str | Path) -> str:
    result = run_cli(*args)
    assert result.returncode == 0, f"model_signing {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def key_pair(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, Path, Path]:
    """A P-256 key pair as PEM files: (key, private path, public path)."""
    key = new_key()
    (tmp_path / "keys").mkdir()
    priv, pub = tmp_path / "keys" / "signer.key", tmp_path / "keys" / "signer.pub"
    priv.write_bytes(private_pem(key))
    pub.write_bytes(public_pem(key))
    return key, priv, pub


def payload_of(sig: bytes) -> dict[str, Any]:
    bundle = json.loads(sig)
    decoded: dict[str, Any] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return decoded


def rewrite_payload(sig: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """Decode the statement, let `edit` change it, re-serialise it into the bundle; the signature is kept."""
    bundle = json.loads(sig)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    edit(statement)
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps(bundle).encode()


def root_digest(resources: list[dict[str, str]]) -> str:
    return hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
