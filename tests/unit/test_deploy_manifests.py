"""Kubernetes manifests, checked offline: every overlay rendered (tests/unit/kustomize_subset.py),
validated against the bundled Kubernetes schemas, and wired to the code it runs — probe paths,
settings names, CLI commands, Secret/ConfigMap keys and the applier's partition bound."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
from asgi_lifespan import LifespanManager
from carpages_api.app import create_app
from carpages_api.settings import ApiSettings
from carpages_cdc.settings import WorkerSettings
from carpages_reco.settings import RecoSettings
from carpages_shared.dsn import sentinel_dsn
from pydantic_settings import BaseSettings
from valkey.connection import parse_url

from tests.unit.kustomize_subset import Obj, containers, load_documents, render, split_image
from tests.unit.manifest_lookup import (
    container_env,
    find,
    image_name,
    pods,
    quantity,
    selects,
    settings_env_names,
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod", "prod-sentinel", "prod-cluster")
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.utils.latest_version())
"""The oldest Kubernetes the manifests claim (CronJob timeZone, HPA v2, PDB v1) and the newest."""
PROCESS_ENV = {"carpages-api": {"LOG_FORMAT"}, "carpages-cdc-worker": {"LOG_FORMAT"},
               "carpages-reco": {"LOG_FORMAT"}}
"""Variables an image's entrypoint reads outside its settings (carpages_shared.logs)."""
SETTINGS: dict[str, type[BaseSettings]] = {
    "carpages-api": ApiSettings, "carpages-cdc-worker": WorkerSettings,
    "carpages-reco": RecoSettings}
"""Image name -> the settings class its process reads."""
SECRET_EXAMPLE = K8S / "secret.example.yaml"


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    return request.param, render(K8S / "overlays" / request.param)


@pytest.fixture(scope="module")
def secret_example() -> Obj:
    (secret,) = load_documents(SECRET_EXAMPLE)
    return secret


def test_base_renders_and_overlays_keep_every_object() -> None:
    base = {(o["kind"], o["metadata"]["name"]) for o in render(K8S / "base")}
    for name in OVERLAYS:
        assert {(o["kind"], o["metadata"]["name"]) for o in render(K8S / "overlays" / name)} \
            == base


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(
        overlay: tuple[str, list[Obj]], version: str) -> None:
    _, objects = overlay
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "carpages"


def test_secret_example_holds_placeholders_only(secret_example: Obj) -> None:
    kubernetes_validate.validate(secret_example, KUBERNETES_VERSIONS[0], strict=True)
    assert "data" not in secret_example
    assert all("CHANGE-ME" in value for value in secret_example["stringData"].values())


def test_secret_and_configmap_references_resolve(
        overlay: tuple[str, list[Obj]], secret_example: Obj) -> None:
    _, objects = overlay
    for _, template in pods(objects):
        for container in template["spec"]["containers"]:
            for env in container.get("env", []):
                assert "value" not in env, f"{env['name']}: set it in a ConfigMap or Secret"
                ref = env["valueFrom"]
                if "secretKeyRef" in ref:
                    key = ref["secretKeyRef"]
                    assert key["name"] == secret_example["metadata"]["name"]
                    assert key["key"] in secret_example["stringData"]
                else:
                    key = ref["configMapKeyRef"]
                    assert key["key"] in find(objects, "ConfigMap", key["name"])["data"]


def test_container_env_names_are_settings_fields(overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    for workload, template in pods(objects):
        for container in template["spec"]["containers"]:
            settings = SETTINGS[image_name(container)]
            known = settings_env_names(settings)
            names = [n for n in container_env(container, objects)
                     if n not in PROCESS_ENV.get(image_name(container), set())]
            where = f"{workload['metadata']['name']} ({settings.__name__})"
            assert len(names) == len(set(names)), f"{where}: duplicate names"
            unknown = [n for n in names if n.upper() not in known]
            assert not unknown, f"{where} reads none of {unknown}"
            provided = {known[n.upper()] for n in names}
            required = {f for f, info in settings.model_fields.items() if info.is_required()}
            assert required <= provided, f"{where} lacks {required - provided}"


def test_pods_are_hardened_and_sized(overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    for workload, template in pods(objects):
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), workload
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, "a writable /tmp on a read-only root"
            assert not split_image(container["image"])[1].endswith(":latest")


def test_api_probes_ports_and_graceful_shutdown(overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    spec = find(objects, "Deployment", "carpages-api")["spec"]
    assert "replicas" not in spec, "the HPA owns the replica count"
    pod = spec["template"]["spec"]
    (api,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert api["args"][api["args"].index("--port") + 1] == str(ports["http"])
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    sleep = api["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    # uvicorn's graceful shutdown (10 s, carpages_api.__main__) must fit after the drain sleep.
    assert pod["terminationGracePeriodSeconds"] >= int(sleep[1]) + 10
    annotations = spec["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["http"]


async def test_probe_paths_answer_as_the_probes_expect() -> None:
    """Liveness answers while Valkey is down; readiness and every path exist (no 404)."""
    objects = render(K8S / "overlays" / "prod")
    deployment = find(objects, "Deployment", "carpages-api")["spec"]["template"]
    (api,) = deployment["spec"]["containers"]
    settings = ApiSettings(API_VALKEY_URL="valkey://127.0.0.1:1/0", API_JWT_SECRET="test",
                           API_VALKEY_TIMEOUT_S=0.2)  # port 1: nothing listens
    app = create_app(settings)
    async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        live = await client.get(api["livenessProbe"]["httpGet"]["path"])
        ready = await client.get(api["readinessProbe"]["httpGet"]["path"])
        scrape = await client.get(deployment["metadata"]["annotations"]["prometheus.io/path"])
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["error"] == "valkey unreachable"
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")


def test_api_service_autoscaler_budget_and_network_policy(
        overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    template = find(objects, "Deployment", "carpages-api")["spec"]["template"]
    labels = template["metadata"]["labels"]
    port = template["spec"]["containers"][0]["ports"][0]
    service = find(objects, "Service", "carpages-api")["spec"]
    assert selects({"matchLabels": service["selector"]}, labels)
    assert [p["targetPort"] for p in service["ports"]] == [port["name"]]
    hpa = find(objects, "HorizontalPodAutoscaler", "carpages-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "carpages-api"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert selects(find(objects, "PodDisruptionBudget", "carpages-api")["spec"]["selector"],
                   labels)
    policy = find(objects, "NetworkPolicy", "carpages-api")["spec"]
    assert selects(policy["podSelector"], labels)
    ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress_ports == {port["containerPort"]}
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {6379, 3306, 53} <= egress_ports


def test_every_pod_is_covered_by_a_network_policy(overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    policies = [o["spec"] for o in objects if o["kind"] == "NetworkPolicy"]
    assert any(p["podSelector"] == {} and not p.get("ingress") and not p.get("egress")
               for p in policies), "a default deny"
    for workload, template in pods(objects):
        allowing = [p for p in policies if p["podSelector"] and
                    selects(p["podSelector"], template["metadata"]["labels"])]
        assert allowing, workload["metadata"]["name"]
        egress = {p["port"] for pol in allowing for r in pol["egress"] for p in r["ports"]}
        assert {6379, 53} <= egress
        if image_name(template["spec"]["containers"][0]) == "carpages-cdc-worker":
            assert {3306, 9092} <= egress


def test_publisher_runs_one_active_and_one_standby(overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    spec = find(objects, "Deployment", "carpages-cdc-publisher")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxSurge"] == 0, "never three publishers"


def test_applier_replicas_never_exceed_partitions(overlay: tuple[str, list[Obj]]) -> None:
    name, objects = overlay
    partitions = int(find(objects, "ConfigMap", "carpages-cdc")["data"]["CDC_TOPIC_PARTITIONS"])
    replicas = find(objects, "Deployment", "carpages-cdc-applier")["spec"]["replicas"]
    assert 1 <= replicas <= partitions
    if name.startswith("prod"):
        assert replicas == partitions, "prod: one applier per partition"
    assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"
                and o["spec"]["scaleTargetRef"]["name"] == "carpages-cdc-applier"]


def test_trainer_runs_every_45_minutes_without_overlap(overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    # A CronJob cannot: "*/45" fires at :00 and :45. One process on the fixed-rate grid can.
    assert not [o for o in objects if o["kind"] == "CronJob"
                and o["metadata"]["name"] == "carpages-reco-trainer"]
    deployment = find(objects, "Deployment", "carpages-reco-trainer")["spec"]
    assert deployment["replicas"] == 1
    assert deployment["strategy"]["type"] == "Recreate"  # never two trainers, even in a rollout
    (trainer,) = deployment["template"]["spec"]["containers"]
    assert trainer["args"] == ["train", "--every", "45m"]
    threads = int(find(objects, "ConfigMap", "carpages-reco")["data"]["RECO_NUM_THREADS"])
    # More LightFM threads than the CPU limit only get throttled.
    assert 1 <= threads <= quantity(trainer["resources"]["limits"]["cpu"])


def test_trainer_metrics_are_scraped(overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    port = int(find(objects, "ConfigMap", "carpages-reco")["data"]["RECO_METRICS_PORT"])
    template = find(objects, "Deployment", "carpages-reco-trainer")["spec"]["template"]
    (trainer,) = template["spec"]["containers"]
    assert [p["containerPort"] for p in trainer["ports"]] == [port]
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    policy = find(objects, "NetworkPolicy", "carpages-reco")["spec"]
    assert port in [p["port"] for rule in policy["ingress"] for p in rule["ports"]]
    assert find(objects, "ConfigMap", "carpages-reco")["data"]["LOG_FORMAT"] == "json"


def test_every_service_logs_json_in_the_cluster(overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    for name in ("carpages-api", "carpages-cdc", "carpages-reco"):
        assert find(objects, "ConfigMap", name)["data"]["LOG_FORMAT"] == "json", name


def test_dev_is_one_small_api_pod_and_prod_is_larger() -> None:
    dev, prod = (render(K8S / "overlays" / name) for name in ("dev", "prod"))
    assert find(dev, "HorizontalPodAutoscaler", "carpages-api")["spec"]["maxReplicas"] == 1
    dev_hpa, prod_hpa = (find(o, "HorizontalPodAutoscaler", "carpages-api")["spec"]
                         for o in (dev, prod))
    assert prod_hpa["minReplicas"] >= 2
    assert prod_hpa["maxReplicas"] > dev_hpa["maxReplicas"]
    for workload in ("carpages-api", "carpages-cdc-applier", "carpages-cdc-publisher"):
        small, large = (find(o, "Deployment", workload)["spec"]["template"]["spec"]
                        ["containers"][0]["resources"]["requests"] for o in (dev, prod))
        assert quantity(small["cpu"]) < quantity(large["cpu"]), workload
        assert quantity(small["memory"]) < quantity(large["memory"]), workload


def commands(objects: list[Obj]) -> set[tuple[str, ...]]:
    """Every command line the manifests run: container args and exec probes."""
    found: set[tuple[str, ...]] = set()
    for container in containers(objects):
        entry = {"carpages-cdc-worker": "cdc_worker", "carpages-reco": "carpages_reco"}.get(
            image_name(container))
        if entry:
            found.add((entry, *container["args"]))
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if "exec" in container.get(probe, {}):
                found.add(tuple(container[probe]["exec"]["command"]))
    return found


@pytest.mark.parametrize("command", sorted(set().union(
    *(commands(render(K8S / "overlays" / name)) for name in OVERLAYS))), ids=" ".join)
def test_worker_and_trainer_commands_exist(command: tuple[str, ...]) -> None:
    program, *args = command
    argv = ([sys.executable, "-m", program] if program == "carpages_reco"
            else [str(Path(sys.executable).parent / program)])
    env = {**os.environ, "MYSQL_URL": "mysql://u:p@127.0.0.1:1/x",
           "VALKEY_URL": "valkey://127.0.0.1:1/0"}
    done = subprocess.run([*argv, *args, "--help"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_worker_liveness_checks_the_role_it_runs(overlay: tuple[str, list[Obj]]) -> None:
    _, objects = overlay
    for name in ("carpages-cdc-publisher", "carpages-cdc-applier"):
        (container,) = find(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"]
        probe = container["livenessProbe"]["exec"]["command"]
        assert probe[:2] == ["cdc_worker", "check"]
        assert probe[probe.index("--role") + 1] == container["args"][0]


def _valkey_keys(objects: list[Obj]) -> dict[str, dict[str, str]]:
    """Workload -> {Valkey env name: the Secret key it reads}."""
    found: dict[str, dict[str, str]] = {}
    for workload, template in pods(objects):
        for container in template["spec"]["containers"]:
            found[workload["metadata"]["name"]] = {
                env["name"]: env["valueFrom"]["secretKeyRef"]["key"]
                for env in container.get("env", [])
                if "VALKEY" in env["name"] and "secretKeyRef" in env["valueFrom"]}
    return found


def test_prod_sentinel_is_prod_finding_the_primary_through_sentinel(secret_example: Obj) -> None:
    prod, sentinel = (render(K8S / "overlays" / name) for name in ("prod", "prod-sentinel"))
    assert {(o["kind"], o["metadata"]["name"]) for o in prod} == {
        (o["kind"], o["metadata"]["name"]) for o in sentinel}
    before, after = _valkey_keys(prod), _valkey_keys(sentinel)
    assert before.keys() == after.keys()
    for workload, names in after.items():
        assert names == {"VALKEY_URL": "valkey-sentinel-url"}, workload
        assert before[workload]["VALKEY_URL"] == "valkey-url", workload
    url = secret_example["stringData"]["valkey-sentinel-url"]
    assert sentinel_dsn(url).sentinels[0][1] == 26379
    ApiSettings(valkey_url=url, jwt_secret="x" * 32)
    WorkerSettings(valkey_url=url, mysql_url="mysql://u:p@h/db")
    for policy in (o["spec"] for o in sentinel if o["kind"] == "NetworkPolicy"):
        if policy["podSelector"]:
            assert 26379 in {p["port"] for r in policy["egress"] for p in r["ports"]}


def _resolved_env(container: Obj, objects: list[Obj], secret: Obj) -> dict[str, str]:
    """A container's environment as the kubelet builds it, with the Secret's example values:
    `envFrom` ConfigMaps first, then `env` (which wins); a missing optional key sets nothing."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(find(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            key = ref["secretKeyRef"]
            if key["key"] in secret["stringData"] or not key.get("optional"):
                env[item["name"]] = secret["stringData"][key["key"]]
        else:
            key = ref["configMapKeyRef"]
            env[item["name"]] = find(objects, "ConfigMap", key["name"])["data"][key["key"]]
    return env


def _prod_on_a_cluster(prod: list[Obj]) -> list[Obj]:
    """What prod-cluster must render: prod with exactly the cluster changes and nothing else."""
    objects = copy.deepcopy(prod)
    for _, template in pods(objects):
        for container in template["spec"]["containers"]:
            container["env"] = [e for e in container["env"]
                                if e["name"] != "API_VALKEY_REPLICA_URLS"]
            for env in container["env"]:
                if env["name"] == "VALKEY_URL":
                    env["valueFrom"]["secretKeyRef"]["key"] = "valkey-cluster-url"
    find(objects, "ConfigMap", "carpages-api")["data"]["API_VALKEY_CLUSTER"] = "true"
    find(objects, "ConfigMap", "carpages-cdc")["data"]["CDC_VALKEY_CLUSTER"] = "true"
    return objects


def test_prod_cluster_is_prod_on_a_valkey_cluster(
        secret_example: Obj, monkeypatch: pytest.MonkeyPatch) -> None:
    prod, cluster = (render(K8S / "overlays" / name) for name in ("prod", "prod-cluster"))
    by_id = {(o["kind"], o["metadata"]["name"]): o for o in cluster}
    expected = {(o["kind"], o["metadata"]["name"]): o for o in _prod_on_a_cluster(prod)}
    assert by_id.keys() == expected.keys()
    for obj_id, obj in expected.items():
        assert by_id[obj_id] == obj, f"{obj_id}: differs from prod beyond the cluster settings"
    before, after = _valkey_keys(prod), _valkey_keys(cluster)
    assert before.keys() == after.keys()
    assert "API_VALKEY_REPLICA_URLS" in before["carpages-api"]  # what the overlay removes
    for workload, names in after.items():
        assert names == {"VALKEY_URL": "valkey-cluster-url"}, workload
        assert before[workload]["VALKEY_URL"] == "valkey-url", workload
    url = secret_example["stringData"]["valkey-cluster-url"]
    # A cluster has database 0 only; valkey-py's cluster client refuses any other in the URL.
    assert parse_url(url).get("db", 0) == 0
    # Each container's settings, built from its rendered environment alone, are in cluster mode.
    for workload_obj, template in pods(cluster):
        for container in template["spec"]["containers"]:
            settings_class = SETTINGS[image_name(container)]
            known = settings_env_names(settings_class)
            for name in known:
                monkeypatch.delenv(name, raising=False)
            env = _resolved_env(container, cluster, secret_example)
            values: dict[str, Any] = {known[n]: v for n, v in env.items() if n in known}
            settings = settings_class(**values)
            where = f"{workload_obj['metadata']['name']} ({settings_class.__name__})"
            assert isinstance(settings, ApiSettings | WorkerSettings | RecoSettings), where
            assert settings.valkey_url == url, where
            if isinstance(settings, RecoSettings):
                # No cluster setting yet (a plain client): when one appears, set it in the
                # overlay's reco ConfigMap and check it here like the others.
                assert "valkey_cluster" not in RecoSettings.model_fields, where
            else:
                assert settings.valkey_cluster is True, where
            if isinstance(settings, ApiSettings):
                assert settings.valkey_replica_urls == [], where
