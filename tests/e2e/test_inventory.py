"""The inventory end to end: a scripted multi-publisher download session through the real Hub client,
then the origin and licence reports (CLI and API) and the CycloneDX SBOM checked against what was served."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from huggingface_hub import hf_hub_download

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings
from tests.fakehub.fixtures import ALICE_TOKEN, BOB_TOKEN
from tests.fakehub.safetensors_format import safetensors_bytes

QWEN = "Qwen/Qwen2.5-0.5B"
DEEPSEEK = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
LLAMA = "meta-llama/Llama-3.2-1B"
STRANGER = "acme-labs/tiny-bert"  # a namespace in no publisher table
ALICE = hashlib.sha256(ALICE_TOKEN.encode()).hexdigest()[:16]  # how the download log names a token
BOB = hashlib.sha256(BOB_TOKEN.encode()).hexdigest()[:16]
FIGURES = ("revisions", "files", "downloads", "bytes", "identities")


@dataclass(frozen=True)
class Download:
    repo_id: str
    path: str
    token: str | None = None


# The scripted session: who downloads what. Qwen's weights twice, by two identities.
SESSION = (
    Download(QWEN, "config.json"),
    Download(QWEN, "model.safetensors"),
    Download(QWEN, "model.safetensors", ALICE_TOKEN),
    Download(DEEPSEEK, "config.json", BOB_TOKEN),
    Download(LLAMA, "config.json"),
    Download(LLAMA, "model.safetensors"),
    Download(STRANGER, "config.json"),
)


def _repo(repo_id: str, seed: int, card: dict[str, Any]) -> FakeRepo:
    weights = safetensors_bytes({"weight": np.full((4, 4), seed, dtype=np.float32)})
    config = json.dumps({"model_type": "tiny", "hidden_size": 4, "seed": seed})
    return FakeRepo(
        repo_id,
        [FakeFile.text("config.json", config), FakeFile.from_bytes("model.safetensors", weights)],
        settings=RepoSettings(card_data=card),
    )


@pytest.fixture
def publishers_hub(fake_hub: FakeHub) -> dict[str, FakeRepo]:
    repos = [
        _repo(
            QWEN,
            1,
            {"license": "apache-2.0", "pipeline_tag": "text-generation", "language": ["en", "zh"]},
        ),
        _repo(DEEPSEEK, 2, {"license": "mit", "base_model": QWEN, "library_name": "transformers"}),
        _repo(LLAMA, 3, {"license": "llama3.2"}),
        _repo(STRANGER, 4, {"license": "openrail"}),
    ]
    return {repo.repo_id: fake_hub.add(repo) for repo in repos}


def _size(repos: dict[str, FakeRepo], repo_id: str, path: str) -> int:
    return repos[repo_id].head.files[path].size


def _cli(hubgate: RunningHubgate, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mirror.cli", *args],
        env=hubgate.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _run_session(hubgate: RunningHubgate, repos: dict[str, FakeRepo], tmp_path: Path) -> None:
    # Llama's licence needs a human under the default policy: refused until the security team waives it.
    refused = request("GET", f"{hubgate.url}/{LLAMA}/resolve/main/config.json")
    assert refused.status == 403
    approver = make_token(hubgate, "sec-team", "approver")
    [licence_review] = [
        item
        for item in ok(call(hubgate, "GET", f"/reviews?repo={LLAMA}", approver))["items"]
        if item["subject_kind"] == "revision"
    ]
    ok(
        call(
            hubgate,
            "POST",
            f"/reviews/{licence_review['id']}/approve",
            approver,
            {"reason": "Llama 3.2 community licence acknowledged by legal"},
        )
    )
    for number, download in enumerate(SESSION):
        path = hf_hub_download(
            download.repo_id,
            download.path,
            cache_dir=tmp_path / f"cache-{number}",  # a fresh cache: every download reaches hubgate
            endpoint=hubgate.url,
            token=download.token or False,
        )
        expected = repos[download.repo_id].head.files[download.path]
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == expected.sha256
    hubgate.flush_downloads()


def _expected(repos: dict[str, FakeRepo]) -> dict[str, dict[str, Any]]:
    """The figures the session above must produce, per publisher namespace."""

    def served(repo_id: str) -> list[Download]:
        return [item for item in SESSION if item.repo_id == repo_id]

    def figures(repo_id: str) -> dict[str, int]:
        downloads = served(repo_id)
        return {
            "revisions": 1,
            "files": len({item.path for item in downloads}),
            "downloads": len(downloads),
            "bytes": sum(_size(repos, repo_id, item.path) for item in downloads),
            "identities": len({item.token for item in downloads}),
        }

    return {
        "Qwen": {"country": "CN", "organisation": "Alibaba Cloud (Qwen team)", **figures(QWEN)},
        "deepseek-ai": {"country": "CN", "organisation": "DeepSeek", **figures(DEEPSEEK)},
        "meta-llama": {"country": "US", "organisation": "Meta", **figures(LLAMA)},
        "acme-labs": {"country": "unknown", "organisation": "unknown", **figures(STRANGER)},
    }


def _add(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {name: sum(row[name] for row in rows) for name in FIGURES if name != "identities"}


def test_reports_and_sbom_match_a_multi_publisher_session(
    hubgate: RunningHubgate, publishers_hub: dict[str, FakeRepo], tmp_path: Path
) -> None:
    repos = publishers_hub
    _run_session(hubgate, repos, tmp_path)
    expected = _expected(repos)
    viewer = make_token(hubgate, "security-lead", "viewer")

    # -- origins: the CLI (reading the database) and the API agree, and match the session exactly ------
    cli = _cli(hubgate, "report", "origins", "--format", "json")
    assert cli.returncode == 0, cli.stderr
    origins = json.loads(cli.stdout)
    api_origins = ok(call(hubgate, "GET", "/reports/origins", viewer))
    assert {k: v for k, v in api_origins.items() if k != "generated_at"} == {
        k: v for k, v in origins.items() if k != "generated_at"
    }
    assert {
        row["org"]: {key: row[key] for key in ("country", "organisation", *FIGURES)}
        for row in origins["by_publisher"]
    } == expected
    by_country = {row["country"]: row for row in origins["by_country"]}
    assert set(by_country) == {"CN", "US", "unknown"}
    assert {key: by_country["CN"][key] for key in FIGURES if key != "identities"} == _add(
        [expected["Qwen"], expected["deepseek-ai"]]
    )
    assert by_country["CN"]["identities"] == 3  # anonymous and Alice for Qwen, Bob for DeepSeek
    assert by_country["CN"]["publishers"] == ["Qwen", "deepseek-ai"]
    assert by_country["US"]["licence_buckets"] == {"vendor": 1}
    assert origins["totals"]["revisions"] == 4
    assert origins["totals"]["downloads"] == len(SESSION)
    assert origins["totals"]["identities"] == 3

    # -- licences: as the gate resolved them ---------------------------------------------------------
    cli = _cli(hubgate, "report", "licences", "--format", "json")
    assert cli.returncode == 0, cli.stderr
    licences = json.loads(cli.stdout)
    assert {
        (row["licence"], row["bucket"]): (row["revisions"], row["bytes"]) for row in licences["by_licence"]
    } == {
        ("apache-2.0", "permissive"): (1, expected["Qwen"]["bytes"]),
        ("mit", "permissive"): (1, expected["deepseek-ai"]["bytes"]),
        ("llama3.2", "vendor"): (1, expected["meta-llama"]["bytes"]),
        ("openrail", "rail"): (1, expected["acme-labs"]["bytes"]),
    }
    assert {row["bucket"]: row["countries"] for row in licences["by_bucket"]} == {
        "permissive": {"CN": 2},
        "vendor": {"US": 1},
        "rail": {"unknown": 1},
    }
    table = _cli(hubgate, "report", "licences")
    assert table.returncode == 0, table.stderr
    assert "by bucket:" in table.stdout
    assert "llama3.2" in table.stdout
    csv_answer = call(hubgate, "GET", "/reports/origins?format=csv", viewer)
    assert csv_answer.status == 200
    assert csv_answer.body.decode().splitlines()[0].startswith("org,organisation,country,family,revisions")

    # -- the inventory itself ------------------------------------------------------------------------
    items = {item["repo_id"]: item for item in ok(call(hubgate, "GET", "/inventory", viewer))["items"]}
    assert set(items) == set(repos)
    assert items[QWEN]["downloads"]["by_identity"] == {
        "anonymous": {
            "count": 2,
            "bytes": _size(repos, QWEN, "config.json") + _size(repos, QWEN, "model.safetensors"),
        },
        ALICE: {"count": 1, "bytes": _size(repos, QWEN, "model.safetensors")},
    }
    assert list(items[DEEPSEEK]["downloads"]["by_identity"]) == [BOB]
    assert items[DEEPSEEK]["licence"]["lineage"] == [
        {"repo_id": QWEN, "licences": ["apache-2.0"], "bucket": "permissive"}
    ]
    assert items[LLAMA]["review"]["state"] == "APPROVED"  # the licence waiver
    assert items[LLAMA]["licence"]["verdict"] == "review"
    assert items[QWEN]["card"]["language"] == ["en", "zh"]
    assert all(item["signature"]["status"] == "unchecked" for item in items.values())
    assert all(item["commit"] == repos[repo_id].head.sha for repo_id, item in items.items())
    assert call(hubgate, "GET", "/inventory", None).status == 401


def _served_hashes(repos: dict[str, FakeRepo]) -> dict[str, dict[str, str]]:
    return {
        repo_id: {
            item.path: repos[repo_id].head.files[item.path].sha256
            for item in SESSION
            if item.repo_id == repo_id
        }
        for repo_id in repos
    }


def _check_sbom(text: str, repos: dict[str, FakeRepo], *, hubgate_url: str | None) -> dict[str, Any]:
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document: dict[str, Any] = json.loads(text)
    components = {component["bom-ref"]: component for component in document.get("components", [])}
    served = _served_hashes(repos)
    for ref, component in components.items():
        repo_id = ref.removeprefix("models/").split("@")[0]
        commit = repos[repo_id].head.sha
        assert ref == f"models/{repo_id}@{commit}"
        assert component["type"] == "machine-learning-model"
        assert component["purl"] == f"pkg:huggingface/{repo_id}@{commit}"
        hashes = {
            item["name"]: item["hashes"][0]["content"]
            for item in component["components"]
            if item.get("hashes")
        }
        assert served[repo_id].items() <= hashes.items()  # every served file, with the sha256 served
        for name, digest in hashes.items():
            assert digest == repos[repo_id].head.files[name].sha256
        if hubgate_url is not None:
            attestations = [r["url"] for r in component["externalReferences"] if r["type"] == "attestation"]
            assert attestations == [f"{hubgate_url}/api/hubgate/v1/attestations/model/{repo_id}/{commit}"]
    return components


def test_the_sbom_of_the_inventory_and_of_one_revision(
    hubgate: RunningHubgate, publishers_hub: dict[str, FakeRepo], tmp_path: Path
) -> None:
    repos = publishers_hub
    _run_session(hubgate, repos, tmp_path)
    viewer = make_token(hubgate, "security-lead", "viewer")

    output = tmp_path / "inventory.cdx.json"
    cli = _cli(hubgate, "sbom", "-o", str(output))
    assert cli.returncode == 0, cli.stderr
    components = _check_sbom(output.read_text(), repos, hubgate_url=None)
    assert len(components) == len(repos)
    properties = {
        item["name"]: item["value"]
        for item in components[f"models/{LLAMA}@{repos[LLAMA].head.sha}"]["properties"]
    }
    assert (properties["hubgate:origin:country"], properties["hubgate:licence:bucket"]) == ("US", "vendor")
    assert properties["hubgate:review:state"] == "APPROVED"

    answer = call(hubgate, "GET", "/inventory/sbom", viewer)
    assert answer.status == 200
    assert (answer.header("Content-Type") or "").startswith("application/vnd.cyclonedx+json")
    assert len(_check_sbom(answer.body.decode(), repos, hubgate_url=hubgate.url)) == len(repos)

    commit = repos[QWEN].head.sha
    one = call(hubgate, "GET", f"/inventory/model/{QWEN}/{commit}/sbom", viewer)
    assert one.status == 200
    assert list(_check_sbom(one.body.decode(), repos, hubgate_url=hubgate.url)) == [f"models/{QWEN}@{commit}"]
    missing = call(hubgate, "GET", f"/inventory/model/{QWEN}/{'0' * 40}/sbom", viewer)
    assert (missing.status, missing.header("X-Error-Code")) == (404, "NotFound")

    cli = _cli(hubgate, "sbom", f"{QWEN}@{commit[:8]}")
    assert cli.returncode == 0, cli.stderr
    assert list(_check_sbom(cli.stdout, repos, hubgate_url=None)) == [f"models/{QWEN}@{commit}"]
    never = _cli(hubgate, "sbom", "nobody/nothing")
    assert never.returncode == 1
    assert "not in the inventory" in never.stderr
