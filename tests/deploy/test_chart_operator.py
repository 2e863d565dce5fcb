"""What an operator relies on in the rendered chart: probes on real endpoints, nobody runs as root, the
migration runs before the Deployment changes, secrets are only referenced, config changes roll the pods,
the network policy allows exactly hubgate's traffic, and the rest of the production wiring."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mirror.config import Settings
from mirror.http.routes import Route, match
from mirror.policy.file import load_policy
from tests.deploy.chart import (
    NAMESPACE,
    RELEASE,
    VALUES_SETS,
    Rendered,
    env_of,
    hook_weight,
    hooks,
    load_values,
    render,
    render_set,
)

SETS = sorted(VALUES_SETS)
SECRET_ENV = {
    "HUBGATE_DATABASE__URL",
    "HUBGATE_UPSTREAM__TOKEN",
    "HUBGATE_STORAGE__S3__ACCESS_KEY_ID",
    "HUBGATE_STORAGE__S3__SECRET_ACCESS_KEY",
    "HUBGATE_AUTH__ADMIN_TOKEN",
    "HUBGATE_WEBHOOK__URL",
}


def _server(rendered: Rendered) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = rendered.one("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


def _port_named(container: dict[str, Any], name: str) -> int:
    ports: dict[str, int] = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert name in ports, f"no container port named {name!r}"
    return ports[name]


@pytest.mark.parametrize("values_set", SETS)
def test_probes_ask_hubgates_own_health_endpoints(values_set: str) -> None:
    rendered = render_set(values_set)
    _, container = _server(rendered)
    expected = {"startupProbe": Route.HEALTHZ, "livenessProbe": Route.HEALTHZ, "readinessProbe": Route.READYZ}
    for probe, route in expected.items():
        get = container[probe]["httpGet"]
        # Through hubgate's own route table, not a string compare: a renamed endpoint fails here.
        assert match("GET", get["path"]).route is route, probe
        _port_named(container, get["port"])
    # The port hubgate listens on is the probed one.
    assert env_of(container)["HUBGATE_SERVER__PORT"]["value"] == str(_port_named(container, "http"))


def test_prometheus_scrapes_the_metrics_endpoint_through_the_service() -> None:
    rendered = render_set("production")
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert match("GET", endpoint["path"]).route is Route.METRICS
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert render_set("minimal").of_kind("ServiceMonitor") == []


@pytest.mark.parametrize("values_set", SETS)
def test_no_container_runs_as_root_or_can_write_its_root_filesystem(values_set: str) -> None:
    rendered = render_set(values_set)
    workloads = list(rendered.pod_specs())
    assert {m["kind"] for m, _ in workloads} == (
        {"Deployment"} if values_set == "dev" else {"Deployment", "Job"}
    )
    for manifest, pod in workloads:
        pod_context = pod["securityContext"]
        assert pod_context["runAsNonRoot"] is True
        assert pod_context["runAsUser"] > 0
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert "hostNetwork" not in pod
        assert "hostPID" not in pod
        for container in pod.get("initContainers", []) + pod["containers"]:
            context = container["securityContext"]
            where = f"{manifest['kind']}/{container['name']}"
            assert context["runAsNonRoot"] is True, where
            assert context.get("runAsUser", 1) > 0, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["privileged"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            # With a read-only root, every place hubgate writes must be a mounted volume.
            env = env_of(container)
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            for variable in ("HUBGATE_DATA_DIR", "TMPDIR", "HOME"):
                path = env[variable]["value"]
                assert path in mounts, (where, variable)
                assert not mounts[path].get("readOnly", False), (where, variable)


def test_the_migration_job_runs_before_the_deployment_changes() -> None:
    for upgrade in (False, True):
        rendered = render(load_values(VALUES_SETS["production"]), upgrade=upgrade)
        job = rendered.one("Job")
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert [*container["command"], *container["args"]] == ["hubgate", "migrate"]
        # pre-install and pre-upgrade hooks complete before Helm applies the release's objects.
        assert hooks(job) == {"pre-install", "pre-upgrade"}
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        delete_policy = job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
        assert "before-hook-creation" in delete_policy.split(","), "a re-run must replace the last Job"
        # What the Job needs is created before it, in the same hook phase (lower weight).
        config = rendered.one("ConfigMap", f"{RELEASE}-migration")
        policy = rendered.one("NetworkPolicy", f"{RELEASE}-migration")
        for prerequisite in (config, policy):
            assert hooks(prerequisite) == hooks(job)
            assert hook_weight(prerequisite) < hook_weight(job)
        volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
        assert volumes["config"]["configMap"]["name"] == config["metadata"]["name"]
        # The Job checks the very configuration the new pods will get.
        assert config["data"] == rendered.one("ConfigMap", RELEASE)["data"]
        # Everything else is a regular object, applied only after the hooks succeeded.
        for manifest in rendered.manifests:
            if manifest["metadata"]["name"] != f"{RELEASE}-migration":
                assert hooks(manifest) == set(), manifest["kind"]
        _, server = _server(rendered)
        # The replicas never migrate themselves in production: they refuse an old schema instead.
        assert env_of(server)["HUBGATE_DATABASE__MIGRATE_ON_START"]["value"] == "false"
        assert env_of(container)["HUBGATE_DATABASE__URL"] == env_of(server)["HUBGATE_DATABASE__URL"]


def test_dev_mode_migrates_at_startup_without_a_job() -> None:
    rendered = render_set("dev")
    assert rendered.of_kind("Job") == []
    deployment, server = _server(rendered)
    assert env_of(server)["HUBGATE_DATABASE__MIGRATE_ON_START"]["value"] == "true"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = rendered.one("PersistentVolumeClaim")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert rendered.of_kind("PodDisruptionBudget") == []
    assert rendered.of_kind("HorizontalPodAutoscaler") == []


@pytest.mark.parametrize("values_set", SETS)
def test_secrets_are_only_referenced(values_set: str) -> None:
    values = load_values(VALUES_SETS[values_set])
    rendered = render(values)
    assert rendered.of_kind("Secret") == []
    configured = {
        ref["existingSecret"] for ref in values.get("secrets", {}).values() if ref.get("existingSecret")
    }
    referenced = set()
    for _, pod in rendered.pod_specs():
        for volume in pod["volumes"]:
            if "secret" in volume:
                referenced.add(volume["secret"]["secretName"])
        for container in pod["containers"]:
            for name, entry in env_of(container).items():
                if name in SECRET_ENV:
                    assert "value" not in entry, name
                    referenced.add(entry["valueFrom"]["secretKeyRef"]["name"])
                else:
                    assert "secretKeyRef" not in entry.get("valueFrom", {}), name
    assert referenced == configured
    for config_map in rendered.of_kind("ConfigMap"):
        text = "\n".join(config_map["data"].values())
        for word in ("token", "password", "secret_access_key", "postgresql", "PRIVATE KEY"):
            assert word not in text, word


def test_the_attestation_key_is_mounted_read_only_for_hubgates_group_only() -> None:
    rendered = render_set("production")
    deployment, container = _server(rendered)
    pod = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "hubgate-attestation-key"
    assert volume["secret"]["defaultMode"] == 0o440
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    key_path = env_of(container)["HUBGATE_PROVENANCE__SIGNING_KEY_PATH"]["value"]
    (item,) = volume["secret"]["items"]
    assert key_path == f"{mount['mountPath']}/{item['path']}"
    # Without the Secret, no mount and no path: hubgate falls back to a key on its data volume.
    _, plain = _server(render_set("minimal"))
    assert "HUBGATE_PROVENANCE__SIGNING_KEY_PATH" not in env_of(plain)
    assert "secrets.attestationKey" in render_set("minimal").notes


def _checksum(rendered: Rendered) -> str:
    deployment, _ = _server(rendered)
    value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    return value


def test_a_config_or_policy_change_rolls_the_pods_and_nothing_else_does() -> None:
    base = load_values(VALUES_SETS["production"])
    checksum = _checksum(render(base))
    assert len(checksum) == 64
    changed_config = {**base, "config": {**base["config"], "log": {"level": "DEBUG", "format": "json"}}}
    changed_policy = {**base, "policy": base["policy"] + '\n[remote_code]\naction = "deny"\n'}
    changed_file = {**base, "extraFiles": {**base["extraFiles"], "publishers.toml": "[publishers]\n"}}
    assert _checksum(render(changed_config)) != checksum
    assert _checksum(render(changed_policy)) != checksum
    assert _checksum(render(changed_file)) != checksum
    assert _checksum(render({**base, "replicaCount": 4, "podAnnotations": {"a": "b"}})) == checksum


def test_the_production_policy_is_valid_with_the_files_the_chart_mounts_beside_it(tmp_path: Path) -> None:
    # The example operators start from must load in hubgate, key files included.
    rendered = render_set("production")
    _, container = _server(rendered)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
    data = rendered.one("ConfigMap", RELEASE)["data"]
    assert set(data) == {"config.toml", "policy.toml", "acme-models.pub"}
    for name, text in data.items():
        (tmp_path / name).write_text(text.replace(mount["mountPath"] + "/", f"{tmp_path}/"), encoding="utf-8")
    policy_path = env_of(container)["HUBGATE_POLICY__PATH"]["value"]
    assert policy_path == f"{mount['mountPath']}/policy.toml"
    loaded = load_policy(tmp_path / "policy.toml")
    assert loaded.fingerprint.startswith("acme-production@")


@pytest.mark.parametrize("values_set", SETS)
def test_termination_covers_the_prestop_sleep_and_hubgates_drain(values_set: str) -> None:
    values = load_values(VALUES_SETS[values_set])
    rendered = render(values)
    deployment, container = _server(rendered)
    server = values.get("config", {}).get("server", {})
    grace = server.get("shutdown_grace_s", Settings().server.shutdown_grace_s)
    closing = server.get("close_timeout_s", Settings().server.close_timeout_s)
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep > 0
    period = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # The kubelet's grace period runs from the preStop hook on; SIGTERM comes after the sleep, and
    # hubgate then drains for shutdown_grace_s, bounds its last writes by close_timeout_s, and closes
    # its scanners.
    assert period >= sleep + math.ceil(grace) + math.ceil(closing) + 5


def test_production_spreads_scales_and_keeps_replicas_through_disruptions() -> None:
    rendered = render_set("production")
    deployment, container = _server(rendered)
    pod = deployment["spec"]["template"]["spec"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(c["labelSelector"]["matchLabels"] == selector for c in spread.values())
    # With an autoscaler the Deployment leaves the replica count alone.
    assert "replicas" not in deployment["spec"]
    hpa = rendered.one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": RELEASE}
    budget = rendered.one("PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"] == selector
    assert budget["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # The Service and the budget select the server's pods, never the migration Job's.
    service = rendered.one("Service")
    assert service["spec"]["selector"] == selector
    job_labels = rendered.one("Job")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= job_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    _port_named(container, "http")


def test_default_values_run_two_replicas() -> None:
    deployment, _ = _server(render_set("minimal"))
    assert deployment["spec"]["replicas"] == 2


def test_the_service_account_carries_the_cloud_identity() -> None:
    rendered = render_set("production")
    account = rendered.one("ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    deployment, _ = _server(rendered)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_the_ingress_streams_large_downloads() -> None:
    rendered = render_set("production")
    ingress = rendered.one("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 600
    assert annotations["nginx.ingress.kubernetes.io/proxy-max-temp-file-size"] == "0"
    (rule,) = ingress["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = rendered.one("Service")
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}


def _rule(to: list[dict[str, Any]], ports: list[tuple[int, str]]) -> dict[str, Any]:
    return {"to": to, "ports": [{"port": port, "protocol": protocol} for port, protocol in ports]}


DNS = _rule(
    [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    [(53, "UDP"), (53, "TCP")],
)
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"]


def test_the_network_policy_allows_exactly_what_hubgate_needs() -> None:
    rendered = render_set("production")
    policy = rendered.one("NetworkPolicy", RELEASE)
    deployment, _ = _server(rendered)
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    # In: hubgate's port, from the ingress controller's, the clients' and the monitoring namespaces.
    assert spec["ingress"] == [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
                {"namespaceSelector": {"matchLabels": {"hubgate.example.com/client": "true"}}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
            ],
            "ports": [{"port": "http", "protocol": "TCP"}],
        }
    ]
    # Out: DNS, the Hub (public addresses only), the bucket, the database, the webhook receiver.
    assert spec["egress"] == [
        DNS,
        _rule([{"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE}}], [(443, "TCP")]),
        _rule([{"ipBlock": {"cidr": "52.218.0.0/17"}}, {"ipBlock": {"cidr": "3.5.64.0/21"}}], [(443, "TCP")]),
        _rule([{"ipBlock": {"cidr": "10.20.0.0/16"}}], [(5432, "TCP")]),
        _rule([{"ipBlock": {"cidr": "10.30.4.17/32"}}], [(443, "TCP")]),
    ]
    # The migration Job reaches only DNS and the database, and takes no connections.
    job_policy = rendered.one("NetworkPolicy", f"{RELEASE}-migration")["spec"]
    job_labels = rendered.one("Job")["spec"]["template"]["metadata"]["labels"]
    assert job_policy["podSelector"]["matchLabels"].items() <= job_labels.items()
    assert job_policy["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in job_policy
    assert job_policy["egress"] == [DNS, _rule([{"ipBlock": {"cidr": "10.20.0.0/16"}}], [(5432, "TCP")])]


def test_an_air_gapped_network_policy_has_no_route_to_the_hub() -> None:
    values = load_values(VALUES_SETS["production"])
    values["networkPolicy"]["egress"]["upstream"] = {"enabled": False, "cidrs": [], "ports": [{"port": 443}]}
    egress = render(values).one("NetworkPolicy", RELEASE)["spec"]["egress"]
    assert not any("0.0.0.0/0" in str(rule) for rule in egress)


def _setting_exists(path: list[str], model: type[BaseModel]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    annotation = field.annotation
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and _setting_exists(path[1:], annotation)
    )


@pytest.mark.parametrize("values_set", SETS)
def test_every_hubgate_variable_the_pod_gets_is_a_setting(values_set: str) -> None:
    # HUBGATE_CONFIG names the file; every other HUBGATE_* must map onto a field, or hubgate ignores it.
    for _, pod in render_set(values_set).pod_specs():
        assert pod["enableServiceLinks"] is False, "Service links would add HUBGATE_PORT-style variables"
        for container in pod["containers"]:
            for name in env_of(container):
                if name.startswith("HUBGATE_") and name != "HUBGATE_CONFIG":
                    path = name.removeprefix("HUBGATE_").lower().split("__")
                    assert _setting_exists(path, Settings), name


@pytest.mark.parametrize(
    ("values_set", "endpoint"),
    [
        ("minimal", f"http://{RELEASE}.{NAMESPACE}.svc.cluster.local"),
        ("dev", f"http://{RELEASE}.{NAMESPACE}.svc.cluster.local"),
        ("production", "https://hubgate.example.com"),
    ],
)
def test_the_notes_tell_users_their_hf_endpoint(values_set: str, endpoint: str) -> None:
    notes = render_set(values_set).notes
    assert f"export HF_ENDPOINT={endpoint}\n" in notes
