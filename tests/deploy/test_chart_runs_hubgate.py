"""The pod the chart describes, run on this machine: the chart's env (secrets resolved from a test dict),
its ConfigMap files at their mount paths, the migration Job's command first, then the server's; on the
test session's S3 (SeaweedFS) and PostgreSQL, with the fake Hub upstream. If the chart names a variable
or a file hubgate does not read the way the chart assumes, a step here fails."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from huggingface_hub import hf_hub_download

from mirror.policy.file import default_policy_text
from mirror.review.auth import generate_token
from mirror.review.bootstrap import BOOTSTRAP_TOKEN_NAME
from tests.deploy import dockerfile
from tests.deploy.chart import MINIMAL, Rendered, load_values, merge, render
from tests.deploy.local import (
    IMAGE_VENV_BIN,
    VENV_BIN,
    get,
    get_json,
    listen_locally,
    remap_env,
    remap_path,
    resolve_command,
    started,
)
from tests.e2e.hubgate_server import TEST_REDIRECT_HOSTS
from tests.fakehub import FakeHub, FakeHubServer
from tests.fakehub.fixtures import MODEL_ID
from tests.pg import PostgresServer
from tests.storage.seaweed import REGION, SeaweedS3

SecretData = Mapping[tuple[str, str], str]


@dataclass(frozen=True)
class LocalContainer:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


def local_container(
    pod: dict[str, Any], rendered: Rendered, secrets: SecretData, root: Path
) -> LocalContainer:
    """The pod's single container as a local process: the image's ENV under the container's env, every
    volume a directory under `root` (ConfigMaps written out key by key), paths remapped to match."""
    (container,) = pod["containers"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts: dict[str, Path] = {IMAGE_VENV_BIN: VENV_BIN}
    for mount in container["volumeMounts"]:
        local = root / mount["mountPath"].strip("/")
        local.mkdir(parents=True)
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            for key, text in rendered.one("ConfigMap", volume["configMap"]["name"])["data"].items():
                (local / key).write_text(text, encoding="utf-8")
        elif "secret" in volume:
            name = volume["secret"]["secretName"]
            for item in volume["secret"]["items"]:
                assert (name, item["key"]) in secrets, f"the pod mounts Secret {name} key {item['key']}"
                (local / item["path"]).write_text(secrets[(name, item["key"])], encoding="utf-8")
        else:
            assert {"emptyDir", "ephemeral", "persistentVolumeClaim"} & volume.keys(), volume
        mounts[mount["mountPath"]] = local
    image = dockerfile.runtime({"PATH": os.environ["PATH"]})
    env = remap_env(image.env, mounts)
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = remap_path(entry["value"], mounts)
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) in secrets, f"the pod needs Secret {ref['name']} key {ref['key']}"
        env[entry["name"]] = secrets[(ref["name"], ref["key"])]
    argv = resolve_command([*container.get("command", image.entrypoint), *container.get("args", [])], env)
    return LocalContainer(argv=argv, env=env, cwd=mounts.get(image.workdir, root))


@pytest.fixture
def pod_root() -> Iterator[Path]:
    """Where the pods' volumes live: a short path, as in a container. The scanner pool's fork server
    binds a Unix socket under the pod's TMPDIR, and a socket path may hold at most 107 bytes (pytest's
    tmp_path, longer still under xdist, went past that: every scan then failed to start)."""
    root = Path(tempfile.mkdtemp(prefix="pod"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_the_chart_pod_migrates_serves_and_downloads_on_s3_and_postgres(
    tmp_path: Path,
    pod_root: Path,
    upstream: FakeHubServer,
    fake_hub: FakeHub,
    seaweedfs: SeaweedS3,
    postgres: PostgresServer,
    cache_dir: Path,
) -> None:
    bucket = seaweedfs.new_bucket()
    admin_token = generate_token()
    signing_key = ec.generate_private_key(ec.SECP256R1())
    values = merge(
        load_values(MINIMAL),
        {
            "config": {
                "upstream": {"endpoint": upstream.url, "redirect_hosts": list(TEST_REDIRECT_HOSTS)},
                "server": {"fetch_wait_s": 60},
                "storage": {
                    "s3": {
                        "bucket": bucket,
                        "endpoint_url": seaweedfs.endpoint_url,
                        "addressing_style": "path",
                        "region": REGION,
                        "part_size_mb": 5,
                    }
                },
            },
            # A policy file of the operator's, mounted from the ConfigMap: the shipped one, renamed, so
            # that decisions show which file was read.
            "policy": default_policy_text().replace('name = "default"', 'name = "from-the-chart"', 1),
            "secrets": {
                "databaseUrl": {"existingSecret": "hubgate-database"},
                "s3": {"existingSecret": "hubgate-s3"},
                "adminToken": {"existingSecret": "hubgate-admin"},
                "attestationKey": {"existingSecret": "hubgate-attestation"},
            },
        },
    )
    secrets: SecretData = {
        ("hubgate-database", "url"): postgres.url(postgres.create_database()),
        ("hubgate-s3", "access-key-id"): seaweedfs.access_key_id,
        ("hubgate-s3", "secret-access-key"): seaweedfs.secret_access_key,
        ("hubgate-admin", "token"): admin_token,
        ("hubgate-attestation", "attestation-key.pem"): signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    }
    rendered = render(values)

    job = local_container(
        rendered.one("Job")["spec"]["template"]["spec"], rendered, secrets, pod_root / "job"
    )
    migrated = subprocess.run(
        job.argv, env=job.env, cwd=job.cwd, capture_output=True, text=True, timeout=180, check=False
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "database schema: empty ->" in migrated.stdout

    deployment = rendered.one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    server = local_container(pod, rendered, secrets, pod_root / "pod")
    env, port = listen_locally(server.env)
    with started(server.argv, env=env, cwd=server.cwd, log=tmp_path / "serve.log") as process:
        # Each probe of the manifest answers 200 once the pod is up: readiness means database and bucket.
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            process.wait_until(port, pod["containers"][0][probe]["httpGet"]["path"])

        path = Path(
            hf_hub_download(
                MODEL_ID, "model.safetensors", cache_dir=cache_dir, endpoint=f"http://127.0.0.1:{port}"
            )
        )
        resolved = fake_hub.repo(MODEL_ID).resolve("main")
        assert resolved is not None
        file = resolved.commit.files["model.safetensors"]
        assert path.read_bytes() == file.blob.read(0, file.size)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        client = seaweedfs.client()
        listed = client.list_objects_v2(Bucket=bucket)
        client.close()
        assert f"blobs/{digest}" in {item["Key"] for item in listed.get("Contents", [])}

        # The bootstrap admin token from the Secret works against the review API, and was audited.
        bearer = {"Authorization": f"Bearer {admin_token}"}
        status, reviews = get_json(port, f"/api/hubgate/v1/reviews?repo={MODEL_ID}", headers=bearer)
        assert status == 200, reviews
        assert reviews["items"], reviews
        assert all(r["policy_version"].startswith("from-the-chart@") for r in reviews["items"]), reviews
        status, audit = get_json(port, "/api/hubgate/v1/audit", headers=bearer)
        assert status == 200, audit
        created = [e for e in audit["items"] if e["subject"] == f"token:{BOOTSTRAP_TOKEN_NAME}"]
        assert [e["action"] for e in created] == ["token-create"]
        status, verified = get_json(port, "/api/hubgate/v1/audit/verify", headers=bearer)
        assert (status, verified["ok"]) == (200, True)

        # Attestations are signed with the key from the mounted Secret, not one made up by this pod.
        status, pem = get(port, "/.well-known/hubgate/attestation-key.pem")
        assert status == 200
        served = serialization.load_pem_public_key(pem)
        assert isinstance(served, ec.EllipticCurvePublicKey)
        assert served.public_numbers() == signing_key.public_key().public_numbers()
        assert process.stop() == 0, process.tail()

    # Air-gapped, as docs/deploy.md describes it: the Hub out of reach (a closed port fails at once, no
    # timeouts) and no egress to it. The release still serves what it stored and approved.
    offline = render(
        merge(
            values,
            {
                "config": {"upstream": {"endpoint": "http://127.0.0.1:9"}},
                "networkPolicy": {"egress": {"upstream": {"enabled": False}}},
            },
        )
    )
    offline_pod = offline.one("Deployment")["spec"]["template"]["spec"]
    server = local_container(offline_pod, offline, secrets, pod_root / "offline-pod")
    env, port = listen_locally(server.env)
    with started(server.argv, env=env, cwd=server.cwd, log=tmp_path / "offline.log") as process:
        process.wait_until(port, "/readyz")
        again = hf_hub_download(
            MODEL_ID,
            "model.safetensors",
            cache_dir=tmp_path / "offline-cache",
            endpoint=f"http://127.0.0.1:{port}",
        )
        assert Path(again).read_bytes() == path.read_bytes()
        assert process.stop() == 0, process.tail()
