"""docker/worker-entrypoint.sh, run for real (as the worker images run it, minus the container):
no keys means loopback only; keys mean all interfaces behind CurveZMQ; half a key setup is refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator_worker.cli import load_client_curve, ping

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "worker-entrypoint.sh"
BIN = Path(sys.executable).parent  # emulator-worker lives beside the interpreter running the tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listeners(port: int) -> set[str]:
    """Local addresses listening on ``port`` (IPv4), from /proc/net/tcp: '127.0.0.1' or '0.0.0.0'."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, p = local.split(":")
        if int(p, 16) == port and state == "0A":
            found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return found


def env_for(tmp: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "WORKER_BACKEND": "sim",
        "WORKER_SLOTS": "1",
        "WORKER_PORT": str(port),
        "WORKER_SECRET_KEY": str(tmp / "none" / "worker.key_secret"),
        "WORKER_AUTHORIZED_KEYS": str(tmp / "none" / "authorized"),
    }
    env.update(extra)
    return env


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start(env: dict[str, str], procs: list[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT), *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    procs.append(proc)
    return proc


def wait_ping(endpoint: str, proc: subprocess.Popen[str], curve: tuple[bytes, bytes, bytes] | None = None) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"worker exited: {proc.communicate()}"
        try:
            return ping(endpoint, 500, curve)
        except TimeoutError:
            continue
    raise AssertionError(f"{endpoint} never answered")


def test_without_keys_it_serves_on_loopback_only(tmp_path: Path, started: list) -> None:
    port = free_port()
    proc = start(env_for(tmp_path, port), started)
    info = wait_ping(f"tcp://127.0.0.1:{port}", proc)
    assert info["backend"] == "sim" and info["curve"] is False
    assert listeners(port) == {"127.0.0.1"}
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert "no CurveZMQ keys mounted; binding 127.0.0.1" in err


def test_with_keys_it_serves_all_interfaces_to_authorized_clients_only(tmp_path: Path, started: list) -> None:
    keys = tmp_path / "keys"
    for folder, name in (("server", "worker"), ("client", "cluster"), ("stranger", "stranger")):
        subprocess.run(
            [str(BIN / "emulator-worker"), "keygen", str(keys / folder), "--name", name],
            check=True,
            capture_output=True,
        )
    (keys / "authorized").mkdir()
    (keys / "authorized" / "cluster.key").write_bytes((keys / "client" / "cluster.key").read_bytes())
    port = free_port()
    env = env_for(
        tmp_path,
        port,
        WORKER_SECRET_KEY=str(keys / "server" / "worker.key_secret"),
        WORKER_AUTHORIZED_KEYS=str(keys / "authorized"),
    )
    proc = start(env, started)
    endpoint = f"tcp://127.0.0.1:{port}"
    client = load_client_curve(str(keys / "server" / "worker.key"), str(keys / "client" / "cluster.key_secret"))
    info = wait_ping(endpoint, proc, client)
    assert info["curve"] is True
    assert listeners(port) == {"0.0.0.0"}
    # Neither a plain client nor a client with a key the host does not list gets an answer.
    with pytest.raises(TimeoutError):
        ping(endpoint, 1000)
    stranger = load_client_curve(str(keys / "server" / "worker.key"), str(keys / "stranger" / "stranger.key_secret"))
    with pytest.raises(TimeoutError):
        ping(endpoint, 1000, stranger)


def test_half_a_key_setup_is_refused(tmp_path: Path) -> None:
    (tmp_path / "authorized").mkdir()
    env = env_for(tmp_path, free_port(), WORKER_AUTHORIZED_KEYS=str(tmp_path / "authorized"))
    out = subprocess.run(["sh", str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "CurveZMQ needs both" in out.stderr


def test_dash_arguments_go_to_serve_and_others_run_instead(tmp_path: Path) -> None:
    env = env_for(tmp_path, free_port())
    # --idle-exit reaches `serve`: the host exits by itself, with status 0, once idle that long.
    out = subprocess.run(
        ["sh", str(ENTRYPOINT), "--idle-exit", "0.5"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    out = subprocess.run(
        ["sh", str(ENTRYPOINT), "emulator-worker", "keygen", str(tmp_path / "k"), "--name", "w"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "k" / "w.key_secret").exists()


def test_entrypoint_is_executable_in_the_repository() -> None:
    # COPY --chmod sets the mode in the images; the bit in git keeps `docker/worker-entrypoint.sh` runnable as is.
    assert os.access(ENTRYPOINT, os.X_OK)
