"""`sf2rl ui` starts a real MLflow server on the local store and serves its UI."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_ui_serves_the_local_store(tmp_path: Path) -> None:
    port = _free_port()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "sf2rl", "ui", "--port", str(port), "--tracking-uri", uri]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
    finally:
        proc.terminate()
        proc.wait(30)
    # `sf2rl ui` is the server itself, so stopping it leaves no MLflow process behind.
    deadline = time.monotonic() + 20
    while _serving(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _serving(port)


def _serving(port: int) -> bool:
    out = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True)
    return bool(out.stdout.strip())
