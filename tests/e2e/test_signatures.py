"""Model signatures in the gate, and hubgate's own attestations, with the real `model_signing` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings
from tests.fakehub.fixtures import tiny_weights
from tests.mirror.provenance.pki import new_key, private_pem, public_pem

MODEL_SIGNING = Path(sys.executable).parent / "model_signing"
ORG = "signed-org"
FILES = {
    "config.json": b'{"architectures": ["TinyModel"], "hidden_size": 8}\n',
    "model.safetensors": tiny_weights(),  # LFS: its sha256 is in the Hub's metadata
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n",  # not LFS: checked once fetched
}


def _model_signing(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MODEL_SIGNING), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def publisher_key(tmp_path: Path) -> tuple[Path, Path]:
    key = new_key()
    private, public = tmp_path / "publisher.key", tmp_path / "publisher.pub"
    private.write_bytes(private_pem(key))
    public.write_bytes(public_pem(key))
    return private, public


def _signature(tmp_path: Path, private_key: Path, files: dict[str, bytes]) -> bytes:
    """Sign a directory holding `files` with the real CLI, as a publisher would before uploading."""
    model = tmp_path / "to-sign"
    for name, data in files.items():
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_bytes(data)
    signed = _model_signing(
        "sign", "key", "--private_key", private_key, "--signature", model / "model.sig", model
    )
    assert signed.returncode == 0, signed.stderr
    return (model / "model.sig").read_bytes()


def _repo(fake_hub: FakeHub, name: str, files: dict[str, bytes], signature: bytes | None) -> FakeRepo:
    contents = [FakeFile.from_bytes(path, data) for path, data in files.items()]
    if signature is not None:
        contents.append(FakeFile.from_bytes("model.sig", signature, lfs=False))
    return fake_hub.add(
        FakeRepo(f"{ORG}/{name}", contents, settings=RepoSettings(card_data={"license": "apache-2.0"}))
    )


@pytest.fixture
def signed_repos(fake_hub: FakeHub, tmp_path: Path, publisher_key: tuple[Path, Path]) -> dict[str, FakeRepo]:
    private, _ = publisher_key
    signature = _signature(tmp_path, private, FILES)
    changed_weights = bytearray(FILES["model.safetensors"])
    changed_weights[-1] ^= 0x01
    other_key = tmp_path / "other.key"
    other_key.write_bytes(private_pem(new_key()))
    return {
        "good": _repo(fake_hub, "good", FILES, signature),
        "unsigned": _repo(fake_hub, "unsigned", FILES, None),
        "changed-weights": _repo(
            fake_hub, "changed-weights", {**FILES, "model.safetensors": bytes(changed_weights)}, signature
        ),
        "changed-small-file": _repo(
            fake_hub, "changed-small-file", {**FILES, "tokenizer/vocab.txt": b"[PAD]\n"}, signature
        ),
        "extra-file": _repo(fake_hub, "extra-file", {**FILES, "extra.txt": b"not signed\n"}, signature),
        "other-key": _repo(fake_hub, "other-key", FILES, _signature(tmp_path / "o", other_key, FILES)),
    }


def _policy(tmp_path: Path, public_key: Path) -> dict[str, str]:
    path = tmp_path / "policy.toml"
    path.write_text(
        f'[[signatures]]\nrepos = ["{ORG}/*"]\nmode = "required"\npublic_keys = ["{public_key}"]\n'
    )
    return {"path": str(path)}


@pytest.fixture
def signing_hubgate(
    make_hubgate: HubgateFactory, tmp_path: Path, publisher_key: tuple[Path, Path]
) -> RunningHubgate:
    return make_hubgate(policy=_policy(tmp_path, publisher_key[1]))


@pytest.mark.parametrize(
    ("name", "rule_id", "words"),
    [
        ("unsigned", "signatures.missing-signature", "signature (model.sig) is required"),
        ("changed-weights", "signatures.digest-mismatch", "model.safetensors"),
        ("changed-small-file", "signatures.digest-mismatch", "tokenizer/vocab.txt"),
        ("extra-file", "signatures.unsigned-file", "extra.txt"),
        ("other-key", "signatures.wrong-key", "key"),
    ],
)
def test_a_required_signature_that_is_missing_or_does_not_match_quarantines_the_revision(
    signing_hubgate: RunningHubgate,
    signed_repos: dict[str, FakeRepo],
    cache_dir: Path,
    name: str,
    rule_id: str,
    words: str,
) -> None:
    repo = signed_repos[name]
    with pytest.raises(GatedRepoError) as refused:
        hf_hub_download(repo.repo_id, "model.safetensors", cache_dir=cache_dir, endpoint=signing_hubgate.url)
    assert "model signature" in str(refused.value) or "signature" in str(refused.value)
    viewer = make_token(signing_hubgate, "viewer", "viewer")
    reviews = ok(call(signing_hubgate, "GET", f"/reviews?repo={repo.repo_id}", viewer))["items"]
    (review,) = [item for item in reviews if item["subject_kind"] == "revision"]
    assert review["state"] == "QUARANTINED"
    assert review["commit"] == repo.head.sha
    (reason,) = [r for r in review["reasons"] if r["rule_id"].startswith("signatures.")]
    assert reason["rule_id"] == rule_id
    assert words in reason["message"]
    detail = ok(call(signing_hubgate, "GET", f"/reviews/{review['id']}", viewer))
    assert detail["signature"]["status"] == ("unsigned" if name == "unsigned" else "failed")
    assert "licence" not in str(refused.value)  # the refusal names what refuses, not the allowed licence


def test_a_valid_signature_is_served_recorded_and_hubgate_attests_what_it_approved(
    signing_hubgate: RunningHubgate, signed_repos: dict[str, FakeRepo], cache_dir: Path, tmp_path: Path
) -> None:
    repo = signed_repos["good"]
    folder = Path(snapshot_download(repo.repo_id, cache_dir=cache_dir, endpoint=signing_hubgate.url))
    assert (folder / "model.safetensors").read_bytes() == FILES["model.safetensors"]

    viewer = make_token(signing_hubgate, "viewer", "viewer")
    reviews = ok(call(signing_hubgate, "GET", f"/reviews?repo={repo.repo_id}", viewer))["items"]
    weights = next(item for item in reviews if item["path"] == "model.safetensors")
    signature = ok(call(signing_hubgate, "GET", f"/reviews/{weights['id']}", viewer))["signature"]
    assert signature["status"] == "verified"
    assert signature["method"] == "key"

    # hubgate's public key: from the CLI and from the well-known URL, the same.
    shown = subprocess.run(
        [sys.executable, "-m", "mirror.cli", "key", "show"],
        env=signing_hubgate.cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    served = request("GET", f"{signing_hubgate.url}/.well-known/hubgate/attestation-key.pem")
    assert served.status == 200
    assert served.body.decode() == shown.stdout
    hubgate_key = tmp_path / "hubgate.pub"
    hubgate_key.write_text(shown.stdout)

    # `hubgate attest` through the API; the standard tool verifies the downloaded snapshot with it.
    attestation = tmp_path / "hubgate.sig"
    env = {**signing_hubgate.cli_env(), "HUBGATE_URL": signing_hubgate.url, "HUBGATE_TOKEN": viewer}
    attest = subprocess.run(
        [sys.executable, "-m", "mirror.cli", "attest", f"{repo.repo_id}@main", "-o", str(attestation)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert attest.returncode == 0, attest.stderr
    verified = _model_signing(
        "verify", "key", "--signature", attestation, "--public_key", hubgate_key, "--allow_symlinks", folder
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # ...and refuses the same snapshot once a byte changed.
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for item in folder.rglob("*"):
        if item.is_file():
            target = tampered / item.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.read_bytes())
    (tampered / "config.json").write_bytes(b'{"architectures": ["Other"]}\n')
    refused = _model_signing(
        "verify", "key", "--signature", attestation, "--public_key", hubgate_key, tampered
    )
    assert refused.returncode != 0

    # The review statement is signed by the same key and binds the decision and policy version.
    answer = call(signing_hubgate, "GET", f"/attestations/model/{repo.repo_id}/main?kind=review", viewer)
    assert answer.status == 200
    bundle = json.loads(answer.body)
    assert bundle["verificationMaterial"]["publicKey"]["hint"] == served.header("X-Key-Fingerprint")


def test_no_attestation_for_a_revision_that_has_not_passed_review(
    signing_hubgate: RunningHubgate, signed_repos: dict[str, FakeRepo]
) -> None:
    viewer = make_token(signing_hubgate, "viewer", "viewer")
    unfetched = call(
        signing_hubgate, "GET", f"/attestations/model/{signed_repos['good'].repo_id}/main", viewer
    )
    assert unfetched.status == 409
    assert "prefetch" in (unfetched.header("X-Error-Message") or "")
    refused = call(
        signing_hubgate, "GET", f"/attestations/model/{signed_repos['unsigned'].repo_id}/main", viewer
    )
    assert refused.status == 409
    assert (
        call(signing_hubgate, "GET", f"/attestations/model/{signed_repos['good'].repo_id}/main", None).status
        == 401
    )
