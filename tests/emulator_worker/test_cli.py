"""`emulator-worker` on the command line: Curve rules, key files, and one line for bad input."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator_worker.cli import main as worker_cli
from sf2rl.transport.client import CurveKeys, EmulatorClient

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
BIND = ("--bind", "tcp://127.0.0.1:0")
IDLE = ("--idle-exit", "3")  # a host that wrongly starts stops by itself instead of hanging the test


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _keygen(folder: Path, name: str) -> None:
    with pytest.raises(SystemExit) as done:
        worker_cli(["keygen", str(folder), "--name", name])
    assert done.value.code == 0


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common default umask, under which files are made readable by everyone."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def keys(tmp_path: Path, loose_umask: None) -> Path:
    _keygen(tmp_path / "server", "worker")
    _keygen(tmp_path / "client", "cluster")
    (tmp_path / "allowed").mkdir()
    (tmp_path / "allowed" / "cluster.key").write_bytes((tmp_path / "client" / "cluster.key").read_bytes())
    return tmp_path


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "emulator_worker", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_keygen_writes_the_secret_key_for_its_owner_only(tmp_path: Path, loose_umask: None) -> None:
    _keygen(tmp_path / "new" / "keys", "worker")
    folder = tmp_path / "new" / "keys"
    assert _mode(folder) == 0o700
    assert _mode(folder / "worker.key_secret") == 0o600
    assert _mode(folder / "worker.key") == 0o644  # the public half is meant to be shared
    # An existing, open folder and an old secret file are tightened too.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "worker.key_secret").write_text("old")
    os.chmod(shared / "worker.key_secret", 0o644)
    _keygen(shared, "worker")
    assert _mode(shared) == 0o700 and _mode(shared / "worker.key_secret") == 0o600


def test_a_host_key_without_an_allow_list_is_refused(keys: Path) -> None:
    out = _run("serve", *BIND, *IDLE, "--curve-secret-key", str(keys / "server" / "worker.key_secret"))
    assert out.returncode == 2, out
    assert "--authorized-keys" in out.stderr and "--allow-any-client" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_allow_any_client_admits_any_key_and_warns(keys: Path) -> None:
    cmd = [sys.executable, "-m", "emulator_worker", "serve", *BIND, "--allow-any-client",
           "--curve-secret-key", str(keys / "server" / "worker.key_secret")]  # fmt: skip
    host = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None and host.stderr is not None
        endpoint = json.loads(host.stdout.readline())["endpoint"]
        _keygen(keys / "stranger", "stranger")  # a key the host never heard of
        curve = CurveKeys.from_files(keys / "server" / "worker.key", keys / "stranger" / "stranger.key_secret")
        with EmulatorClient(endpoint, curve=curve) as client:
            assert client.hello().curve is True
    finally:
        host.terminate()
        host.wait(10)
    assert "warning: --allow-any-client" in host.stderr.read()


def test_serve_refuses_a_secret_key_others_can_read(keys: Path) -> None:
    secret = keys / "server" / "worker.key_secret"
    for mode in (0o644, 0o640, 0o604):
        os.chmod(secret, mode)
        out = _run("serve", *BIND, *IDLE, "--curve-secret-key", str(secret), "--authorized-keys", str(keys / "allowed"))
        assert out.returncode == 2, (oct(mode), out)
        assert out.stderr.count("\n") == 1 and "chmod 600" in out.stderr, out.stderr


BAD_SERVE = {
    "backend options that are not JSON": ("--backend-options", "{rom: sf2.sfc}"),
    "backend options that are not an object": ("--backend-options", "[1, 2]"),
    "a missing host key file": ("--curve-secret-key", "/nonexistent/w.key_secret", "--authorized-keys", "{allowed}"),
    "a missing authorized-keys folder": ("--curve-secret-key", "{secret}", "--authorized-keys", "/nonexistent"),
    "a key file that is no key": ("--curve-secret-key", "{junk}", "--authorized-keys", "{allowed}"),
    "no slots": ("--slots", "0"),
    "negative slots": ("--slots", "-2"),
    "slots that are no number": ("--slots", "many"),
    "a zero instance timeout": ("--instance-timeout", "0"),
    "an unknown option": ("--frobnicate",),
}


@pytest.mark.parametrize("case", sorted(BAD_SERVE))
def test_bad_serve_input_gets_one_line_and_exit_2(case: str, keys: Path) -> None:
    junk = keys / "junk.key_secret"
    junk.write_text("not a key\n")
    junk.chmod(0o600)
    secret = str(keys / "server" / "worker.key_secret")
    fill = {"{secret}": secret, "{junk}": str(junk), "{allowed}": str(keys / "allowed")}
    args = [fill.get(a, a) for a in BAD_SERVE[case]]
    out = _run("serve", *BIND, *IDLE, *args)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_bad_ping_and_keygen_input_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for args in (
        ("ping", "tcp://127.0.0.1:9", "--server-key", str(tmp_path / "none.key"), "--client-key", str(tmp_path / "x")),
        ("ping", "tcp://127.0.0.1:9", "--server-key", str(tmp_path / "none.key")),
        ("keygen", str(tmp_path / "file" / "keys")),
    ):
        out = _run(*args)
        assert out.returncode == 2, (args, out)
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)
