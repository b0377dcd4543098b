"""The tracking stack of docker/compose.yaml, for real as far as this machine allows: a real PostgreSQL
(Debian's server binaries, a throwaway cluster on a free loopback port) and a real `mlflow server`
started with compose's own command line and environment, the S3 artifact store swapped for a local
folder. A tiny sweep logs to it over HTTP; the runs are read back over HTTP, `sf2rl best` downloads
the checkpoint through the server's artifact proxy, and the rows are checked in PostgreSQL itself.

Skipped only when PostgreSQL is not installed and CI is unset; in CI it must run
(`make sysdeps` installs Debian's `postgresql`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Postgres, pg_bindir, postgres_server, sweep_runs

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = "tiny-http"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    if pg_bindir() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing in CI: apt-get install postgresql (make sysdeps)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server(free_port()) as pg:
        yield pg


def server_command(
    compose: dict[str, Any], interpolate: Any, pg: Postgres, artifacts: Path, port: int
) -> tuple[list[str], dict[str, str]]:
    """compose.yaml's mlflow command and environment, pointed at this machine's PostgreSQL and a local
    artifact folder; everything else (proxied artifacts, allowed hosts, job execution off) as in compose."""
    svc = interpolate(
        compose["services"]["mlflow"],
        {"POSTGRES_USER": pg.user, "POSTGRES_PASSWORD": pg.password, "POSTGRES_DB": pg.database},
    )
    command = list(svc["command"])
    replace = {"--artifacts-destination": str(artifacts), "--host": "127.0.0.1", "--port": str(port), "--workers": "1"}
    for flag, value in replace.items():
        command[command.index(flag) + 1] = value
    i = command.index("--backend-store-uri") + 1
    assert "@postgres:5432/" in command[i]
    command[i] = command[i].replace("@postgres:5432/", f"@127.0.0.1:{pg.port}/")
    env = {k: v for k, v in svc["environment"].items() if not k.startswith(("AWS_", "MLFLOW_S3_"))}
    return [sys.executable, "-m", "mlflow", *command], env


def http(url: str, host: str | None = None, timeout: float = 5) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def mlflow_server(  # type: ignore[no-untyped-def]
    postgres: Postgres, compose: dict[str, Any], interpolate: Any, tmp_path_factory: pytest.TempPathFactory
):
    work = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command, env = server_command(compose, interpolate, postgres, work / "artifacts", port)
    log = (work / "server.log").open("w")
    # Its own process group: the server forks workers, and all of them must go at teardown.
    proc = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=work, start_new_session=True
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"mlflow server exited ({proc.returncode}):\n{(work / 'server.log').read_text()}")
            try:
                if http(f"{uri}/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"mlflow server not healthy in 90 s:\n{(work / 'server.log').read_text()}")
            time.sleep(0.3)
        yield {"uri": uri, "port": port, "artifacts": work / "artifacts", "work": work, "env": env}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)  # uvicorn waits for idle keep-alive connections; there is nothing to save
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.fixture(scope="module")
def finished_sweep(mlflow_server: dict[str, Any], ray_session: Path, tiny_sweep: Any) -> dict[str, Any]:
    from sf2rl.cli.main import main as sf2rl_main

    path = tiny_sweep(mlflow_server["work"], EXPERIMENT, mlflow_server["uri"], stop={"training_iteration": 2})
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["sweep", str(path)])
    assert code.value.code == 0
    return mlflow_server


def test_runs_params_and_curves_read_back_over_http(finished_sweep: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=finished_sweep["uri"])
    parents, children = sweep_runs(finished_sweep["uri"], EXPERIMENT)
    assert len(parents) == 1 and len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert sorted(float(c.data.params["dqn.lr"]) for c in children) == [0.001, 0.003]
    for child in children:
        assert [m.step for m in client.get_metric_history(child.info.run_id, "episode_return_mean")] == [1, 2]
        assert child.info.status == "FINISHED"
        # Artifacts went through the server's proxy (as compose's clients do), not to a client-side path.
        assert child.info.artifact_uri.startswith("mlflow-artifacts:")
        assert {"checkpoint", "resolved_config.json"} <= {a.path for a in client.list_artifacts(child.info.run_id)}
    parent_files = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"parallel_coordinates.html", "reward_curves.png", "summary.json"} <= parent_files
    stored = list(finished_sweep["artifacts"].rglob("module_state*"))
    assert stored, "the checkpoints are not in the server's artifact folder"


def test_runs_are_stored_in_postgresql(finished_sweep: dict[str, Any], postgres: Postgres) -> None:
    import psycopg2

    conn = psycopg2.connect(
        host="127.0.0.1", port=postgres.port, user=postgres.user, password=postgres.password, dbname=postgres.database
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select count(*) from runs r join experiments e on r.experiment_id = e.experiment_id where e.name = %s",
                (EXPERIMENT,),
            )
            assert cur.fetchone()[0] == 3
            cur.execute("select count(*) from metrics where key = 'episode_return_mean'")
            assert cur.fetchone()[0] >= 4
    finally:
        conn.close()


def test_sf2rl_best_downloads_the_checkpoint_over_http(finished_sweep: dict[str, Any], capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sf2rl.agents.checkpoint import module_path
    from sf2rl.cli.main import main as sf2rl_main

    capsys.readouterr()
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["best", EXPERIMENT, "--tracking-uri", finished_sweep["uri"], "--out", str(tmp_path), "--json"])
    assert code.value.code == 0
    best = json.loads(capsys.readouterr().out)
    assert Path(best["path"]).is_relative_to(tmp_path)
    assert module_path(best["path"]).is_dir()


def test_host_header_guard_admits_the_compose_names_only(mlflow_server: dict[str, Any]) -> None:
    api = f"{mlflow_server['uri']}/api/2.0/mlflow/experiments/search?max_results=1"
    for host in ("mlflow:5000", "localhost:5000", f"127.0.0.1:{mlflow_server['port']}"):
        assert http(api, host)[0] == 200, host
    status, body = http(api, "attacker.example:5000")
    assert status in (400, 403) and "Invalid Host header" in body
    assert http(f"{mlflow_server['uri']}/health", "attacker.example")[0] == 200  # compose's health check
