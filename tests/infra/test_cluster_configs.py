"""The cluster configurations, checked without a cloud or a Kubernetes cluster.

- Core Kubernetes objects: kubernetes-validate's bundled schemas, strict (unknown fields fail).
- KubeRay RayCluster/RayJob: a schema of the ray.io/v1 fields these manifests may use, closed
  against unknown keys (the API server silently drops unknown fields of a custom resource, so a
  misspelt key would vanish without an error), and their pod templates as core PodTemplateSpecs.
- The Ray cluster launcher YAML: Ray's own `prepare_config` + `validate_config` (what `ray up` runs).
- Cross-references: one trainer image everywhere, Ray versions, volumes, the RayJob's sweep file.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERAY = ROOT / "infra" / "kuberay"
MANIFESTS = sorted(KUBERAY.glob("*.yaml"))


def closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


# KubeRay's ray.io/v1 API (https://ray-project.github.io/kuberay/reference/api/). Objects this
# project fills in are closed; the ones it leaves to KubeRay's defaults are only typed.
STR, INT, BOOL, NUM = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}, {"type": "number"}
OBJECT = {"type": "object"}
STR_MAP = {"type": "object", "additionalProperties": STR}
POD_TEMPLATE = OBJECT  # checked against Kubernetes' own PodTemplateSpec schema instead
HEAD_GROUP = closed(
    {"rayStartParams": STR_MAP, "template": POD_TEMPLATE, "serviceType": STR, "headService": OBJECT,
     "enableIngress": BOOL, "ingressOptions": OBJECT, "resources": STR_MAP, "labels": STR_MAP},
    required=("template",),
)  # fmt: skip
WORKER_GROUP = closed(
    {"groupName": STR, "replicas": INT, "minReplicas": INT, "maxReplicas": INT, "idleTimeoutSeconds": INT,
     "numOfHosts": INT, "rayStartParams": STR_MAP, "template": POD_TEMPLATE, "scaleStrategy": OBJECT,
     "suspend": BOOL, "resources": STR_MAP, "labels": STR_MAP, "priority": INT},
    required=("groupName", "minReplicas", "maxReplicas", "template"),
)  # fmt: skip
RAY_CLUSTER_SPEC = closed(
    {"rayVersion": STR, "enableInTreeAutoscaling": BOOL, "autoscalerOptions": OBJECT,
     "authOptions": closed({"mode": {"enum": ["disabled", "token"]}, "secretName": STR, "enableK8sTokenAuth": BOOL}),
     "headGroupSpec": HEAD_GROUP, "workerGroupSpecs": {"type": "array", "items": WORKER_GROUP},
     "headServiceAnnotations": STR_MAP, "gcsFaultToleranceOptions": OBJECT, "tlsOptions": OBJECT,
     "networkPolicy": OBJECT, "upgradeStrategy": OBJECT, "historyServerOptions": OBJECT, "managedBy": STR,
     "suspend": BOOL},
    required=("headGroupSpec",),
)  # fmt: skip
RAY_JOB_SPEC = closed(
    {"entrypoint": STR, "runtimeEnvYAML": STR, "clusterSelector": STR_MAP, "rayClusterSpec": RAY_CLUSTER_SPEC,
     "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]},
     "submitterPodTemplate": POD_TEMPLATE, "submitterConfig": OBJECT, "shutdownAfterJobFinishes": BOOL,
     "ttlSecondsAfterFinished": INT, "activeDeadlineSeconds": INT, "preRunningDeadlineSeconds": INT,
     "backoffLimit": INT, "jobId": STR, "metadata": STR_MAP, "entrypointNumCpus": NUM, "entrypointNumGpus": NUM,
     "entrypointResources": STR, "deletionStrategy": OBJECT, "managedBy": STR, "suspend": BOOL},
    required=("entrypoint",),
)  # fmt: skip


def ray_resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    metadata = {"type": "object", "properties": {"name": STR, "labels": STR_MAP}, "required": ["name"]}
    return closed({"apiVersion": {"const": "ray.io/v1"}, "kind": {"const": kind}, "metadata": metadata, "spec": spec},
                  required=("apiVersion", "kind", "metadata", "spec"))  # fmt: skip


CRD_SCHEMAS = {
    "RayCluster": ray_resource("RayCluster", RAY_CLUSTER_SPEC),
    "RayJob": ray_resource("RayJob", RAY_JOB_SPEC),
}
K8S_VERSION = kubernetes_validate.latest_version()
TRAINER_IMAGE = "ghcr.io/your-org/sf2rl-trainer:0.1.0"


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def objects() -> list[dict[str, Any]]:
    return [d for p in MANIFESTS for d in docs(p)]


def find(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in objects() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_templates(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, PodTemplateSpec) of a RayCluster or RayJob."""
    spec = obj["spec"]
    cluster = spec if obj["kind"] == "RayCluster" else spec.get("rayClusterSpec")
    out = []
    if cluster:
        out.append(("headGroupSpec.template", cluster["headGroupSpec"]["template"]))
        for i, group in enumerate(cluster.get("workerGroupSpecs", [])):
            out.append((f"workerGroupSpecs[{i}].template", group["template"]))
    if obj["kind"] == "RayJob" and spec.get("submitterPodTemplate"):
        out.append(("submitterPodTemplate", spec["submitterPodTemplate"]))
    return out


def validate_core(obj: dict[str, Any]) -> None:
    """Strict schema check of a core Kubernetes object; a short error instead of the schema dump."""
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        raise AssertionError(f"{obj['kind']}: {e.message} at {'/'.join(map(str, e.path))}") from None


def validate_ray(obj: dict[str, Any]) -> None:
    try:
        jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])
    except jsonschema.ValidationError as e:
        raise AssertionError(f"{obj['kind']}: {e.message} at {'/'.join(map(str, e.absolute_path))}") from None
    if obj["kind"] == "RayJob":
        # A RayJob either creates its cluster or selects a running one, never both.
        has = [k for k in ("clusterSelector", "rayClusterSpec") if k in obj["spec"]]
        assert len(has) == 1, f"RayJob: give exactly one of clusterSelector and rayClusterSpec, got {has}"
    for where, template in pod_templates(obj):
        pod_template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "check"}, "template": template}
        try:
            validate_core(pod_template)
        except AssertionError as e:
            raise AssertionError(f"{obj['kind']} {where}: {e}") from None


def validate(obj: dict[str, Any]) -> None:
    if obj["apiVersion"].startswith("ray.io/"):
        assert obj["apiVersion"] == "ray.io/v1", "KubeRay's stable API is ray.io/v1"
        validate_ray(obj)
    else:
        validate_core(obj)


# ------------------------------------------------------------------ Kubernetes: schemas


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_pass_their_schemas(path: Path) -> None:
    for obj in docs(path):
        validate(obj)


def test_the_expected_objects_exist() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in objects())
    assert kinds == [
        ("Deployment", "mlflow"),
        ("PersistentVolumeClaim", "mlflow-data"),
        ("PersistentVolumeClaim", "sf2rl-runs"),
        ("RayCluster", "sf2rl"),
        ("RayJob", "sf2rl-quickstart"),
        ("Service", "mlflow"),
    ]


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    node: Any = obj
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("kind", "path", "value", "error"),
    [
        ("RayCluster", "spec.workerGroupSpecs.0.maxReplica", 3, "'maxReplica' was unexpected"),
        ("RayCluster", "spec.authOptions.mode", "tokens", "'tokens' is not one of"),
        ("RayCluster", "spec.headGroupSpec.template.spec.containers.0.imagePullPolicy2", "x", "imagePullPolicy2"),
        (
            "RayCluster",
            "spec.workerGroupSpecs.0.template.spec.volumes.0.persistentVolumeClaim",
            {"claim": "x"},
            "claimName",
        ),
        ("RayJob", "spec.entrypointNumCPUs", 1, "'entrypointNumCPUs' was unexpected"),
        ("RayJob", "spec.rayClusterSpec", {"headGroupSpec": {"template": {}}}, "exactly one of clusterSelector"),
        ("RayCluster", "spec.workerGroupSpecs.0.rayStartParams", {"num-cpus": 4}, "is not of type 'string'"),
        ("Deployment", "spec.template.spec.containers.0.ports.0.containerPort", "5000", "is not of type"),
        ("Service", "spec.selectr", {}, "'selectr' was unexpected"),
    ],
)
def test_the_schema_check_catches_real_mistakes(kind: str, path: str, value: Any, error: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(error)):
        validate(_set(find(kind), path, value))


# ------------------------------------------------------------------ Kubernetes: cross-references


def test_every_ray_pod_runs_the_trainer_image_as_the_image_user() -> None:
    cluster = find("RayCluster")
    for where, template in pod_templates(cluster):
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 1000, where  # USER 1000:100 in docker/trainer.Dockerfile
        for container in spec["containers"]:
            assert container["image"] == TRAINER_IMAGE, where
            assert container["workingDir"] == "/app", where  # WORKDIR of the trainer image


def test_ray_version_matches_the_pinned_ray() -> None:
    pin = re.search(r"^ray==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    assert pin and find("RayCluster")["spec"]["rayVersion"] == pin.group(1)


def test_runs_volume_is_shared_and_mounted_where_sweeps_write(monkeypatch: pytest.MonkeyPatch) -> None:
    from sf2rl.sweep.schema import default_storage

    pvc = find("PersistentVolumeClaim", "sf2rl-runs")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # every node writes checkpoints
    # A sweep's default storage is relative ("runs"): it resolves to /app/runs in the image's workdir.
    monkeypatch.delenv("SF2RL_STORAGE", raising=False)
    assert default_storage() == "runs"
    for where, template in pod_templates(find("RayCluster")):
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        mounts = {m["mountPath"]: m["name"] for c in template["spec"]["containers"] for m in c["volumeMounts"]}
        assert volumes[mounts["/app/runs"]]["persistentVolumeClaim"]["claimName"] == "sf2rl-runs", where
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                find("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
            if "secret" in volume:
                assert volume["secret"]["optional"] is True, f"{where}: a missing secret would block the pod"
        assert set(mounts.values()) <= set(volumes), where


def test_head_runs_no_trials_and_token_auth_is_on() -> None:
    spec = find("RayCluster")["spec"]
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert spec["authOptions"]["mode"] == "token"
    assert spec["enableInTreeAutoscaling"] is True


def test_rayjob_submits_an_existing_sweep_to_the_cluster_with_the_mlflow_server() -> None:
    from sf2rl.sweep.schema import load_sweep

    job, cluster = find("RayJob"), find("RayCluster")
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    steps = [shlex.split(s) for s in job["spec"]["entrypoint"].split("&&")]
    assert steps[0] == ["cd", "/app"]
    sweep_step = next(s for s in steps if s[:2] == ["sf2rl", "sweep"])
    sweep_file = ROOT / sweep_step[2]
    assert sweep_file.parent == ROOT / "sweeps" and sweep_file.is_file()
    load_sweep(sweep_file)  # the file the job runs is a valid sweep
    runtime_env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    uri = runtime_env["env_vars"]["MLFLOW_TRACKING_URI"]
    service = find("Service", "mlflow")
    assert uri == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"


def test_mlflow_deployment_service_and_volume_fit_together() -> None:
    deployment, service = find("Deployment", "mlflow"), find("Service", "mlflow")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in port_names
    args = container["args"]
    assert args[args.index("--port") + 1] == str(port_names["http"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    claim = deployment["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert find("PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert "mlflow:5000" in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert service["spec"]["type"] == "ClusterIP"


# ------------------------------------------------------------------ Ray cluster launcher


@pytest.fixture(scope="module")
def launcher() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "infra" / "ray-cluster.yaml").read_text())


def test_launcher_config_passes_rays_own_validation(launcher: dict[str, Any]) -> None:
    # `ray up` fills in the provider's defaults, then validates against Ray's ray-schema.json.
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(launcher)))
    bad = copy.deepcopy(launcher)
    bad["available_node_types"]["cpu_worker"]["nodeconfig"] = {}
    with pytest.raises(jsonschema.ValidationError, match="nodeconfig"):
        validate_config(prepare_config(bad))


def test_launcher_has_cpu_head_and_worker_types_on_the_trainer_image(launcher: dict[str, Any]) -> None:
    types = launcher["available_node_types"]
    assert launcher["head_node_type"] == "head" and set(types) == {"head", "cpu_worker"}
    assert types["head"]["resources"] == {"CPU": 0}
    worker = types["cpu_worker"]
    assert 0 <= worker["min_workers"] <= worker["max_workers"] <= launcher["max_workers"]
    assert not any("GPU" in t.get("resources", {}) for t in types.values())
    assert launcher["docker"]["image"] == TRAINER_IMAGE
    assert launcher["provider"]["type"] == "aws"


def test_launcher_starts_ray_locked_down(launcher: dict[str, Any]) -> None:
    head = " ".join(launcher["head_start_ray_commands"])
    assert "ray start --head" in head and "--dashboard-host=127.0.0.1" in head
    assert "--address=$RAY_HEAD_IP:6379" in " ".join(launcher["worker_start_ray_commands"])
    options = launcher["docker"]["run_options"]
    assert "--env RAY_AUTH_MODE=token" in options
    assert launcher["file_mounts"] == {"~/.ray/auth_token": "~/.ray/auth_token"}
    assert "--volume /mnt/sf2rl:/mnt/sf2rl" in options


def test_a_sweep_without_tracking_uri_follows_mlflow_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    # The RayJob sends quickstart.yaml (no tracking key) to the MLflow server through this variable,
    # as `sf2rl best` and `sf2rl ui` already read it.
    from sf2rl.sweep.schema import load_sweep

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert load_sweep(ROOT / "sweeps" / "quickstart.yaml").tracking.uri == "http://mlflow:5000"
