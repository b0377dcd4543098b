"""`sf2rl ui` starts a real MLflow server on the local store and serves its UI; given a server, it starts none."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from support import SESSION_TAG, owned

from sf2rl.cli import ui
from sf2rl.core.tags import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tagged_env() -> tuple[dict[str, str], str]:
    """An environment whose tag every process started with it (and all their children) inherits."""
    tag = uuid.uuid4().hex
    return {**os.environ, SESSION_TAG: tag}, tag


def _cmdlines(pids: set[int]) -> list[str]:
    lines = []
    for pid in sorted(pids):
        try:
            lines.append(f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return lines


@pytest.mark.e2e
def test_ui_serves_the_local_store(tmp_path: Path) -> None:
    port = _free_port()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env, tag = _tagged_env()
    cmd = [sys.executable, "-m", "sf2rl", "ui", "--port", str(port), "--tracking-uri", uri]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        body = ""
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    body = r.read().decode(errors="replace")
                    break
            except OSError:
                time.sleep(0.5)
        assert "MLflow" in body or "mlflow" in body
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=5"
        with urllib.request.urlopen(api, timeout=5) as r:
            assert b"experiments" in r.read()
        # Positive control for the check below: while serving, the processes this test started are seen,
        # the `sf2rl ui` process (which became the server) and the web server workers it started.
        serving = owned("", tag)
        assert proc.pid in serving and len(serving) >= 2, _cmdlines(serving)

        _check_a_server_uri_is_linked_not_served(port)
    finally:
        proc.terminate()
        proc.wait(30)
    # `sf2rl ui` is the server itself, so stopping it leaves none of the processes it started behind.
    deadline = time.monotonic() + 20
    while owned("", tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = owned("", tag)
    described = _cmdlines(left)
    for pid in left:  # a failing run leaves nothing running either
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"left running: {described}"


def _check_a_server_uri_is_linked_not_served(port: int) -> None:
    """`sf2rl ui --tracking-uri http://...` prints that server's runs-table links and starts nothing."""
    server = f"http://127.0.0.1:{port}"
    client = MlflowClient(tracking_uri=server)
    exp_id = client.create_experiment("team-sweep", tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    env, tag = _tagged_env()
    cmd = [sys.executable, "-m", "sf2rl", "ui", "--tracking-uri", server + "/", "--port", str(_free_port())]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{server}/#/experiments/{exp_id}/runs?{ui.RUNS_VIEW}" in done.stderr, done.stderr
    assert not owned("", tag), f"started: {_cmdlines(owned('', tag))}"


def test_a_server_uri_starts_no_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"started a process: {args}")

    monkeypatch.setattr(ui.os, "execve", refuse)
    monkeypatch.setattr(ui.subprocess, "call", refuse)
    seen = {}

    def links(uri: str, base: str, name: str | None) -> list[tuple[str, str]]:
        seen.update(uri=uri, base=base)
        return [("quickstart", f"{base}/#/experiments/7/runs?{ui.RUNS_VIEW}")]

    monkeypatch.setattr(ui, "experiment_links", links)
    args = argparse.Namespace(
        tracking_uri="https://mlflow.internal:5000/", experiment=None, host="127.0.0.1", port=5000
    )
    assert ui.run(args) == 0
    assert seen == {"uri": "https://mlflow.internal:5000/", "base": "https://mlflow.internal:5000"}
    assert f"https://mlflow.internal:5000/#/experiments/7/runs?{ui.RUNS_VIEW}" in capsys.readouterr().err
