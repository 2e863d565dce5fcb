"""Bypass: a verdict follows the bytes, but the scan depended on the name.

The attacker publishes the same bytes under a harmless name and a dangerous one (`notes.txt` and
`modeling_evil.py`; `template.txt` and `chat_template.jinja`; `graph.msgpack` and `graph.pb`). The harmless
name sorts first, so a snapshot or prefetch fetches it first and it is approved as what it then is: text,
or raw data. Before the fix, the dangerous name inherited that approval. Now a verdict holds only for the
meanings it was reached under, and a name that gives the bytes a new meaning is judged again, under every
meaning, the worst winning.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError

import tests.scanners.make_malicious  # noqa: F401 - registers every technique in SPECS
from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings
from tests.scanners.malicious_registry import SPECS

ATTACKER = "attacker/sneaky"


def _completed(cache: Path) -> list[Path]:
    """Blobs a client completed in its cache (what it could load)."""
    return [
        p
        for p in cache.rglob("*")
        if p.is_file() and "blobs" in p.parts and not p.name.endswith(".incomplete")
    ]


def _technique(name: str, tmp_path: Path, marker: Path) -> bytes:
    spec = next(spec for spec in SPECS if spec.name == name)
    out = tmp_path / f"sample-{name}"
    spec.build(out, marker)
    return out.read_bytes()


@pytest.fixture
def sneaky(fake_hub: FakeHub, tmp_path: Path, marker: Path) -> dict[str, bytes]:
    code = f"open({str(marker)!r}, 'w').close()\n".encode()
    template = _technique("chat_template_jinja_lipsum", tmp_path, marker)
    graph = _technique("tf_savedmodel_writefile", tmp_path, marker)
    files = {
        "a-notes.txt": code,
        "modeling_evil.py": code,
        "a-template.txt": template,
        "chat_template.jinja": template,
        "a-graph.msgpack": graph,
        "saved_model.pb": graph,
        "config.json": b'{"model_type": "bert"}',
    }
    fake_hub.add(
        FakeRepo(
            ATTACKER,
            [FakeFile.from_bytes(path, data) for path, data in files.items()],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )
    return files


@pytest.mark.parametrize(
    ("harmless", "dangerous"),
    [
        ("a-notes.txt", "modeling_evil.py"),
        ("a-template.txt", "chat_template.jinja"),
        ("a-graph.msgpack", "saved_model.pb"),
    ],
)
def test_the_dangerous_name_never_inherits_the_harmless_names_approval(
    hubgate: RunningHubgate,
    sneaky: dict[str, bytes],
    tmp_path: Path,
    marker: Path,
    harmless: str,
    dangerous: str,
) -> None:
    # The harmless name first: approved for what it is under that name.
    local = hf_hub_download(ATTACKER, harmless, cache_dir=tmp_path / "first", endpoint=hubgate.url)
    assert Path(local).read_bytes() == sneaky[harmless]
    # The same bytes under the dangerous name: judged again, refused, and never on the client's disk.
    with pytest.raises(GatedRepoError, match=r"quarantined|revoked|blocked"):
        hf_hub_download(ATTACKER, dangerous, cache_dir=tmp_path / "second", endpoint=hubgate.url)
    assert not _completed(tmp_path / "second")
    # The blob's one verdict now covers both meanings: the harmless name is refused too (its bytes are
    # what they are under every name), until a human decides knowing both.
    answer = request("GET", f"{hubgate.url}/{ATTACKER}/resolve/main/{harmless}")
    assert answer.status == 403
    assert not marker.exists()


def test_a_snapshot_in_listing_order_gets_no_dangerous_file(
    hubgate: RunningHubgate, sneaky: dict[str, bytes], tmp_path: Path, marker: Path
) -> None:
    with pytest.raises(GatedRepoError):
        snapshot_download(ATTACKER, cache_dir=tmp_path / "c", endpoint=hubgate.url)
    got = {p.name for p in (tmp_path / "c").rglob("*") if "snapshots" in p.parts and p.exists()}
    assert not got & {"modeling_evil.py", "chat_template.jinja", "saved_model.pb"}
    assert not marker.exists()


def test_the_review_shows_every_name_of_the_bytes_and_what_its_verdict_covers(
    hubgate: RunningHubgate, sneaky: dict[str, bytes], tmp_path: Path
) -> None:
    hf_hub_download(ATTACKER, "a-notes.txt", cache_dir=tmp_path / "c", endpoint=hubgate.url)
    HfApi(endpoint=hubgate.url).list_repo_files(ATTACKER)  # hubgate now knows every name in the repo
    viewer = make_token(hubgate, "sec", "viewer")
    review = next(
        item
        for item in ok(call(hubgate, "GET", f"/reviews?state=APPROVED&repo={ATTACKER}", viewer))["items"]
        if item["path"] == "a-notes.txt"
    )
    detail = ok(call(hubgate, "GET", f"/reviews/{review['id']}", viewer))
    assert detail["interpretations"] == ["any"]
    names = {(row["path"], row["interpretation"], row["covered"]) for row in detail["paths"]}
    assert ("a-notes.txt", "any", True) in names
    assert ("modeling_evil.py", "python", False) in names
    # Asked for as code, the verdict is widened (and the approval withdrawn).
    with pytest.raises(GatedRepoError):
        hf_hub_download(ATTACKER, "modeling_evil.py", cache_dir=tmp_path / "d", endpoint=hubgate.url)
    detail = ok(call(hubgate, "GET", f"/reviews/{review['id']}", viewer))
    assert detail["interpretations"] == ["any", "python"]
    assert detail["state"] in {"REVOKED", "QUARANTINED"}
    assert any(report.get("interpretation") == "python" for report in detail["reports"])


def test_an_attestation_never_vouches_for_a_name_its_verdict_did_not_cover(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    data = b"print('hello')\n"
    fake_hub.add(
        FakeRepo(
            "attacker/attest",
            [FakeFile.from_bytes("a.txt", data), FakeFile.from_bytes("b.py", data)],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )
    hf_hub_download("attacker/attest", "a.txt", cache_dir=tmp_path / "c", endpoint=hubgate.url)
    viewer = make_token(hubgate, "sec", "viewer")
    deadline = time.monotonic() + 10
    answer = call(hubgate, "GET", "/attestations/model/attacker/attest/main", viewer)
    while answer.status == 200 and time.monotonic() < deadline:  # pragma: no cover - it must not pass
        time.sleep(0.2)
    assert answer.status == 409
