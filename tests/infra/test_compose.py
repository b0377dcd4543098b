"""docker/compose.yaml (the tracking stack) is well formed and its parts point at each other:
the Compose specification (compose-spec's validating parser), health checks, depends_on
conditions, volumes, credentials, bucket and database names, ports."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DURATION = re.compile(r"^\d+(\.\d+)?(us|ms|s|m|h)$")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def variables(value: Any) -> set[str]:
    """Every ${VAR} a compose value refers to."""
    if isinstance(value, dict):
        return set().union(*(variables(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(variables(v) for v in value)) if value else set()
    return {m.group(1) for m in VAR.finditer(value.replace("$$", ""))} if isinstance(value, str) else set()


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.fixture(params=["defaults", "env-example"])
def resolved(request: pytest.FixtureRequest, compose: dict[str, Any], interpolate: Any) -> dict[str, Any]:
    """The compose file as Docker would see it: with no .env, and with docker/.env.example copied to .env."""
    env = {} if request.param == "defaults" else env_file(ROOT / "docker" / ".env.example")
    return interpolate(compose, env)


@pytest.fixture(scope="module")
def compose_spec():  # type: ignore[no-untyped-def]
    try:
        import compose_spec
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("compose-spec is missing in CI: install the dev extra")
        pytest.skip("compose-spec not installed (pip install compose-spec)")
    return compose_spec


def test_follows_the_compose_specification(resolved: dict[str, Any], compose_spec: Any) -> None:
    # compose-spec parses strictly (unknown keys, bad durations, ports or conditions are errors);
    # it does not substitute variables, hence the file as Docker resolves it.
    parsed = compose_spec.PyCompose.from_json(json.dumps(resolved))
    assert sorted(parsed.service_names()) == ["minio", "minio-init", "mlflow", "postgres"]


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("services.mlflow.healthcheck.intervall", "5s", "intervall"),
        ("services.mlflow.healthcheck.interval", "5 seconds", "duration"),
        ("services.mlflow.depends_on.postgres.condition", "service_ready", "service_ready"),
        ("services.mlflow.ports", ["127.0.0.1:abc:5000"], "port"),
    ],
)
def test_the_specification_check_catches_real_mistakes(
    resolved: dict[str, Any], compose_spec: Any, path: str, value: Any, error: str
) -> None:
    bad = copy.deepcopy(resolved)
    node = bad
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    with pytest.raises(ValueError, match=error):
        compose_spec.PyCompose.from_json(json.dumps(bad))


def test_services_are_the_tracking_stack(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "minio", "minio-init", "mlflow"}
    assert compose["name"] == "sf2rl-tracking"


def test_long_running_services_have_health_checks(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if svc.get("restart") == "no":
            continue  # one-shot jobs are judged by their exit status instead
        hc = svc.get("healthcheck")
        assert hc, f"{name} has no healthcheck"
        test = hc["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: {test}"
        for key in ("interval", "timeout", "start_period"):
            assert DURATION.match(str(hc[key])), f"{name}.healthcheck.{key} = {hc[key]!r}"
        assert isinstance(hc["retries"], int) and hc["retries"] > 0
        assert svc.get("restart") == "unless-stopped", f"{name} should come back after a crash or reboot"


def test_depends_on_conditions_point_at_services_that_can_satisfy_them(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec["condition"] in CONDITIONS
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy, but it has no check"
            if spec["condition"] == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} must be a one-shot for {name} to wait on it"
    # mlflow starts only with its database healthy and its bucket created; no cycles anywhere.
    assert services["mlflow"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "minio-init": {"condition": "service_completed_successfully"},
    }
    assert services["minio-init"]["depends_on"] == {"minio": {"condition": "service_healthy"}}

    def reach(start: str, seen: tuple[str, ...] = ()) -> None:
        assert start not in seen, f"depends_on cycle: {' -> '.join((*seen, start))}"
        for dep in services[start].get("depends_on") or {}:
            reach(dep, (*seen, start))

    for name in services:
        reach(name)


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, svc in compose["services"].items():
        for mount in svc.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert not source.startswith((".", "/")), f"{name}: state belongs in a named volume, not {source}"
            used.add(source)
    assert used == declared == {"postgres-data", "minio-data"}
    assert "/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"][0]
    assert compose["services"]["minio"]["volumes"] == ["minio-data:/data"]
    assert "/data" in compose["services"]["minio"]["command"]


def test_every_variable_has_a_default_and_the_example_env_lists_them(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker" / "compose.yaml").read_text()
    names = variables(compose)
    for m in VAR.finditer(text.replace("$$", "")):
        assert m.group(2) == ":-", f"${{{m.group(1)}}} has no default: the stack would not start without a .env"
    assert names == set(env_file(ROOT / "docker" / ".env.example"))
    assert ".env" in (ROOT / "docker" / ".gitignore").read_text().split()


def test_the_parts_agree_on_names_and_credentials(resolved: dict[str, Any]) -> None:
    s = resolved["services"]
    pg, minio, init, mlflow = s["postgres"]["environment"], s["minio"]["environment"], s["minio-init"], s["mlflow"]
    command = mlflow["command"]
    db = urlsplit(flag(command, "--backend-store-uri"))
    assert db.scheme == "postgresql+psycopg2"
    assert (db.username, db.password, db.path.lstrip("/")) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        pg["POSTGRES_DB"],
    )
    assert (db.hostname, db.port) == ("postgres", 5432)
    artifacts = urlsplit(flag(command, "--artifacts-destination"))
    assert artifacts.scheme == "s3" and artifacts.hostname == init["environment"]["MLFLOW_BUCKET"]
    assert "--serve-artifacts" in command  # clients reach artifacts over HTTP only, with no S3 keys
    env = mlflow["environment"]
    assert urlsplit(env["MLFLOW_S3_ENDPOINT_URL"]).hostname == "minio"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )
    assert init["environment"]["MINIO_ROOT_PASSWORD"] == minio["MINIO_ROOT_PASSWORD"]
    assert len(minio["MINIO_ROOT_PASSWORD"]) >= 8, "MinIO refuses to start with a shorter password"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", pg["POSTGRES_PASSWORD"]), "the password is embedded in a URI"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    hosts = env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert {"mlflow:5000", "localhost:*", "127.0.0.1:*"} <= set(hosts)
    assert flag(command, "--port") == "5000" and flag(command, "--host") == "0.0.0.0"


def test_only_mlflow_is_published_and_only_on_loopback(resolved: dict[str, Any]) -> None:
    published = {name: svc["ports"] for name, svc in resolved["services"].items() if svc.get("ports")}
    assert published == {"mlflow": ["127.0.0.1:5000:5000"]}


def test_images_are_pinned_and_the_mlflow_build_exists(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"
    build = compose["services"]["mlflow"]["build"]
    context = (ROOT / "docker" / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).is_file()
    assert compose["services"]["minio-init"]["image"] == compose["services"]["minio"]["image"]
    # compose's command is the argument list of the image's `mlflow` entry point.
    dockerfile = (context / build["dockerfile"]).read_text()
    assert 'ENTRYPOINT ["mlflow"]' in dockerfile
    assert compose["services"]["mlflow"]["command"][0] == "server"


def test_interpolation_follows_compose_rules(interpolate: Any) -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d}/${EMPTY:-d}/${EMPTY-d}/${UNSET-d}/$${SET}", env) == "x/d//d/${SET}"
