"""The worker host on real loopback sockets: leases, recovery, bad input, CurveZMQ."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
import zmq
from support import require

from emulator_worker import protocol as p
from sf2rl.core import errors
from sf2rl.core.game.spec import Decoder
from sf2rl.core.game.specs import SIM
from sf2rl.transport.client import CurveKeys, EmulatorClient

RANGES = Decoder(SIM).ranges


def test_hello_reports_backend_slots_and_buttons(spawn_host) -> None:
    pool = spawn_host(slots=2)
    with EmulatorClient(pool.endpoints[0]) as client:
        info = client.hello()
    assert isinstance(info, p.HostInfo) and info.version == p.PROTOCOL_VERSION
    assert info.backend == "sim" and info.slots == 2 and info.free == 2 and "Start" in info.buttons
    assert pool.endpoints[0].startswith("tcp://127.0.0.1:")


def test_lease_reset_step_save_load(spawn_host) -> None:
    pool = spawn_host()
    with EmulatorClient(pool.endpoints[0]) as client:
        client.hello()
        client.lease(1, ttl=10)
        first = client.reset(0, ram_ranges=RANGES, seed=3)
        assert len(first.ram) == sum(n for _, n in RANGES)
        state = client.save_state(0)
        a = client.step(0, (p.Segment(0, 0, 120),), ram_ranges=RANGES, want_frame=True)
        assert a.frame is not None and a.frame.shape == (224, 256, 3)
        client.load_state(0, state)
        b = client.step(0, (p.Segment(0, 0, 120),), ram_ranges=RANGES)
        assert a.ram == b.ram


def test_step_before_reset_is_refused(spawn_host) -> None:
    pool = spawn_host()
    with EmulatorClient(pool.endpoints[0]) as client:
        client.lease(1)
        with pytest.raises(errors.InstanceCrashedError, match="reset"):
            client.step(0, (p.Segment(0, 0, 1),))


def test_no_capacity_names_the_shortfall(spawn_host) -> None:
    pool = spawn_host(slots=1)
    with EmulatorClient(pool.endpoints[0]) as a, EmulatorClient(pool.endpoints[0]) as b:
        a.lease(1)
        with pytest.raises(errors.NoCapacityError, match="0 free of 1"):
            b.lease(1)


def test_expired_lease_is_freed(spawn_host) -> None:
    pool = spawn_host(slots=1)
    with EmulatorClient(pool.endpoints[0]) as a:
        a.lease(1, ttl=0.3)
        a._heartbeat.stop()  # simulate a dead trial: no more heartbeats
        with EmulatorClient(pool.endpoints[0]) as b:
            assert b.hello().free == 0  # leased, until the ttl runs out
            deadline = time.monotonic() + 10
            while b.hello().free != 1:
                assert time.monotonic() < deadline, "the expired lease was never freed"
                time.sleep(0.05)
            b.lease(1)
        with pytest.raises(errors.LeaseLostError):
            a.reset(0)


def test_heartbeats_keep_a_lease_alive(spawn_host) -> None:
    pool = spawn_host(slots=1)
    with EmulatorClient(pool.endpoints[0]) as a:
        a.lease(1, ttl=0.3)
        with EmulatorClient(pool.endpoints[0]) as b:
            end = time.monotonic() + 1.0  # over three ttls: only the heartbeats can keep it
            while time.monotonic() < end:
                assert b.hello().free == 0, "the lease lapsed despite its heartbeats"
                time.sleep(0.05)
        a.reset(0, ram_ranges=RANGES)


def test_wrong_protocol_version_is_rejected(spawn_host) -> None:
    pool = spawn_host()
    with EmulatorClient(pool.endpoints[0]) as client:
        with pytest.raises(errors.VersionMismatchError, match="protocol"):
            client.call(p.Hello(id=99, version=p.PROTOCOL_VERSION + 1))
        raw = msgpack.packb({"v": p.PROTOCOL_VERSION + 1, "cmd": "hello", "id": 5})
        client._sock.send_multipart([raw])
        reply = p.decode_reply(client._sock.recv_multipart())
        assert isinstance(reply, p.ErrorReply) and reply.type is p.ErrorType.VERSION_MISMATCH


def test_garbage_gets_error_replies_and_host_keeps_serving(spawn_host) -> None:
    pool = spawn_host()
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(pool.endpoints[0])
    for junk in ([b"\xff\x00garbage"], [b""], [msgpack.packb({"v": 1, "cmd": "step", "id": 1})], [b"a", b"b", b"c"]):
        sock.send_multipart(junk)
        assert sock.poll(3000), f"no reply to {junk!r}"
        reply = p.decode_reply(sock.recv_multipart())
        assert isinstance(reply, p.ErrorReply)
    sock.close(0)
    with EmulatorClient(pool.endpoints[0]) as client:
        assert client.hello().backend == "sim"


def _instance_pids(host_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(host_pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def test_killed_instance_is_restarted_and_reset_goes_on(spawn_host) -> None:
    pool = spawn_host()
    with EmulatorClient(pool.endpoints[0]) as client:
        client.lease(1)
        client.reset(0, ram_ranges=RANGES)
        assert pool.proc is not None
        [pid] = _instance_pids(pool.proc.pid)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(errors.InstanceCrashedError):
            for _ in range(200):
                client.step(0, (p.Segment(0, 0, 1),), ram_ranges=RANGES)
                time.sleep(0.01)
        client.reset(0, ram_ranges=RANGES)
        client.step(0, (p.Segment(0, 0, 4),), ram_ranges=RANGES)
        assert _instance_pids(pool.proc.pid) != [pid]


@pytest.mark.parametrize("route", ["direct", "through the host"])
def test_steps_in_flight_on_two_slots_each_get_their_own_reply(route: str) -> None:
    extra = () if route == "direct" else ("--no-direct",)
    host, endpoint = _serve("--bind", "tcp://127.0.0.1:0", "--slots", "2", *extra)
    try:
        with EmulatorClient(endpoint) as client:
            client.lease(2)
            for slot in (0, 1):
                client.reset(slot, ram_ranges=RANGES)
            short = client.step_async(0, (p.Segment(0, 0, 4),), ram_ranges=RANGES)
            long = client.step_async(1, (p.Segment(0, 0, 400),), ram_ranges=RANGES)
            # Collected in the other order: through the host both replies share one socket.
            long_obs, short_obs = client.step_wait(long), client.step_wait(short)
            assert long_obs.frames_run - short_obs.frames_run == 396
    finally:
        host.terminate()
        host.wait(10)


def test_a_crash_notice_reaches_the_slot_that_died_not_the_one_awaited() -> None:
    # stable-retro: a step long enough (300 frames, ~0.1 s) for the client to check its host socket meanwhile.
    require("stable_retro")
    options = json.dumps({"game": "Airstriker-Genesis-v0"})
    host, endpoint = _serve(
        "--backend", "retro", "--backend-options", options, "--slots", "2", "--bind", "tcp://127.0.0.1:0"
    )
    try:
        with EmulatorClient(endpoint) as client:
            client.lease(2)
            for slot in (0, 1):
                client.reset(slot)
            pgrep = ["pgrep", "-P", str(host.pid), "-f", "identity slot-1"]
            [victim] = [int(x) for x in subprocess.run(pgrep, capture_output=True, text=True).stdout.split()]
            os.kill(victim, signal.SIGKILL)
            doomed = client.step_async(1, (p.Segment(0, 0, 4),))  # in flight to the dead instance
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                pids = _instance_pids(host.pid)
                if victim not in pids and len(pids) == 2:
                    break  # restarted, so the host's notice about slot 1 is on its way to us
                time.sleep(0.05)
            obs = client.step(0, (p.Segment(0, 0, 300),))  # reads slot 1's notice while it waits
            assert obs.frames_run >= 300
            assert 1 in client._notices  # kept for slot 1, not taken as slot 0's failure
            with pytest.raises(errors.InstanceCrashedError, match="instance 1 crashed"):
                client.step_wait(doomed)
            client.reset(1)
            client.step(1, (p.Segment(0, 0, 4),))
    finally:
        host.terminate()
        host.wait(10)


def test_client_reconnects_to_a_restarted_host(tmp_path: Path) -> None:
    ctx = zmq.Context.instance()
    probe = ctx.socket(zmq.ROUTER)
    port = probe.bind_to_random_port("tcp://127.0.0.1")
    probe.close(0)
    endpoint = f"tcp://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "emulator_worker", "serve", "--bind", endpoint]
    host = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None and "listening" in host.stdout.readline()
        client = EmulatorClient(endpoint, timeout_ms=2000, retries=5)
        assert client.hello().backend == "sim"
        host.terminate()
        host.wait(10)
        host = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert host.stdout is not None and "listening" in host.stdout.readline()
        assert client.hello().backend == "sim"
        client.lease(1)  # a fresh host knows no old leases: lease again and go on
        client.reset(0)
        client.close()
    finally:
        host.terminate()
        host.wait(10)


def test_curve_refuses_unknown_clients_and_serves_known_ones(tmp_path: Path) -> None:
    from emulator_worker.cli import main as worker_cli

    for name, folder in (("server", "server"), ("client", "client"), ("intruder", "intruder")):
        with pytest.raises(SystemExit):
            worker_cli(["keygen", str(tmp_path / folder), "--name", name])
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "client.key").write_bytes((tmp_path / "client" / "client.key").read_bytes())
    host, endpoint = _serve(
        "--bind", "tcp://127.0.0.1:0", "--curve-secret-key", str(tmp_path / "server" / "server.key_secret"),
        "--authorized-keys", str(allowed),
    )  # fmt: skip
    try:
        server_pub = tmp_path / "server" / "server.key"
        good = EmulatorClient(
            endpoint, curve=CurveKeys.from_files(server_pub, tmp_path / "client" / "client.key_secret")
        )
        assert good.hello().curve is True
        good.close()
        bad = EmulatorClient(
            endpoint,
            timeout_ms=700,
            retries=0,
            curve=CurveKeys.from_files(server_pub, tmp_path / "intruder" / "intruder.key_secret"),
        )
        with pytest.raises(errors.WorkerUnavailableError):
            bad.hello()
        bad.close()
        plain = EmulatorClient(endpoint, timeout_ms=700, retries=0)
        with pytest.raises(errors.WorkerUnavailableError):
            plain.hello()
        plain.close()
    finally:
        host.terminate()
        host.wait(10)


def test_host_exits_when_its_parent_dies() -> None:
    from sf2rl.transport.pool import wait_until_gone

    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    host, endpoint = _serve("--bind", "tcp://127.0.0.1:0", "--parent-pid", str(parent.pid))
    try:
        with EmulatorClient(endpoint) as client:
            client.lease(1)
            client.reset(0, ram_ranges=RANGES)  # its instance is up and serving
        children = _instance_pids(host.pid)
        assert children, "the host started no instance process"
        parent.kill()
        parent.wait()
        assert host.wait(10) == 0
        assert all(wait_until_gone(c, 10) for c in children)
    finally:
        for proc in (parent, host):
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "emulator_worker", "serve", *args]
    host = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    return host, json.loads(host.stdout.readline())["endpoint"]


def test_direct_ports_are_fixed_when_asked_and_absent_with_no_direct() -> None:
    base = _free_port()
    host, endpoint = _serve("--bind", "tcp://127.0.0.1:0", "--slots", "2", "--direct-ports", str(base))
    try:
        with EmulatorClient(endpoint) as client:
            client.lease(2)
            assert client._direct_endpoints == [f"tcp://*:{base}", f"tcp://*:{base + 1}"]
            client.reset(1, ram_ranges=RANGES)
    finally:
        host.terminate()
        host.wait(10)
    host, endpoint = _serve("--bind", "tcp://127.0.0.1:0", "--no-direct")
    try:
        with EmulatorClient(endpoint) as client:
            client.lease(1)
            assert client._direct_endpoints == []
            client.reset(0, ram_ranges=RANGES)
            client.step(0, (p.Segment(0, 0, 4),), ram_ranges=RANGES)
    finally:
        host.terminate()
        host.wait(10)


def test_host_without_polling_serves_steps() -> None:
    host, endpoint = _serve("--bind", "tcp://127.0.0.1:0", "--slots", "2", "--spin-us", "0")
    try:
        with EmulatorClient(endpoint) as client:
            client.lease(2)
            assert all(e.startswith("tcp://*:") for e in client._direct_endpoints)
            client.reset(1, ram_ranges=RANGES)
            first = client.step(1, (p.Segment(0, 0, 4),), ram_ranges=RANGES)
            assert client.step(1, (p.Segment(0, 0, 4),), ram_ranges=RANGES).frames_run == first.frames_run + 4
    finally:
        host.terminate()
        host.wait(10)


def test_unreachable_direct_socket_falls_back_to_the_host(spawn_host) -> None:
    pool = spawn_host()
    with EmulatorClient(pool.endpoints[0], timeout_ms=500, retries=1) as client:
        client.lease(1)
        client._direct_endpoints = [f"tcp://*:{_free_port()}"]  # as if a firewall dropped the instance's port
        client.reset(0, ram_ranges=RANGES)  # times out once, then goes through the host
        assert client._direct_endpoints == []
        client.step(0, (p.Segment(0, 0, 4),), ram_ranges=RANGES)


@pytest.mark.parametrize("route", ["direct", "through the host"])
def test_games_sharing_an_instance_answer_their_own_lessees(route: str) -> None:
    extra = () if route == "direct" else ("--no-direct",)
    host, endpoint = _serve("--bind", "tcp://127.0.0.1:0", "--slots", "3", "--games-per-instance", "2", *extra)
    try:
        assert len(_instance_pids(host.pid)) == 2  # games 0 and 1 in one process, game 2 in another
        with EmulatorClient(endpoint) as a, EmulatorClient(endpoint) as b:
            assert a.hello().games_per_instance == 2
            a.lease(2)  # slots 0 and 1: both games of the first process
            b.lease(1)
            for client, slot, seed in ((a, 0, 7), (a, 1, 8), (b, 0, 7)):
                client.reset(slot, ram_ranges=RANGES, seed=seed)
            # Each game keeps its own match: the same seed in another process plays the same, another seed not.
            seven = a.step(0, (p.Segment(0, 0, 900),), ram_ranges=RANGES)
            eight = a.step(1, (p.Segment(0, 0, 900),), ram_ranges=RANGES)
            again = b.step(0, (p.Segment(0, 0, 900),), ram_ranges=RANGES)
            assert seven.ram == again.ram != eight.ram
            assert (seven.frames_run, eight.frames_run) == (900, 900)  # counted per game
            a.release()
            with EmulatorClient(endpoint) as c:
                c.lease(2)  # the freed games go to a new lessee, which must reset first
                with pytest.raises(errors.InstanceCrashedError, match="reset"):
                    c.step(0, (p.Segment(0, 0, 1),))
    finally:
        host.terminate()
        host.wait(10)


def test_a_killed_multi_game_instance_notifies_every_lessee_and_comes_back() -> None:
    host, endpoint = _serve("--bind", "tcp://127.0.0.1:0", "--slots", "2", "--games-per-instance", "2")
    try:
        with EmulatorClient(endpoint) as a, EmulatorClient(endpoint) as b:
            a.lease(1)
            b.lease(1)
            for client in (a, b):
                client.reset(0, ram_ranges=RANGES)
            [pid] = _instance_pids(host.pid)
            os.kill(pid, signal.SIGKILL)
            for client in (a, b):
                with pytest.raises(errors.InstanceCrashedError):
                    for _ in range(200):
                        client.step(0, (p.Segment(0, 0, 1),), ram_ranges=RANGES)
                        time.sleep(0.01)
            for client in (a, b):
                client.reset(0, ram_ranges=RANGES)
                client.step(0, (p.Segment(0, 0, 4),), ram_ranges=RANGES)
            assert _instance_pids(host.pid) != [pid]
    finally:
        host.terminate()
        host.wait(10)


def test_games_per_instance_is_refused_for_one_game_backends() -> None:
    cmd = [sys.executable, "-m", "emulator_worker", "serve", "--backend", "retro", "--slots", "2",
           "--games-per-instance", "2", "--bind", "tcp://127.0.0.1:0"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "runs one game per process" in out.stderr
