"""Bounded queues, socket limits, and slots that fail fast: a broken or flooded slot answers at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
import zmq

from emulator_worker import protocol as p
from emulator_worker.server import CRASH_LOOP_LIMIT, HostConfig, WorkerHost
from sf2rl.core import errors
from sf2rl.core.game.spec import Decoder
from sf2rl.core.game.specs import SIM
from sf2rl.transport.client import EmulatorClient

RANGES = Decoder(SIM).ranges
STEP = (p.Segment(0, 0, 1),)


def _serve(*args: str, bind: str = "tcp://127.0.0.1:0") -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "emulator_worker", "serve", "--bind", bind, *args]
    host = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    return host, json.loads(host.stdout.readline())["endpoint"]


def _instance(host_pid: int, index: int) -> int | None:
    pgrep = ["pgrep", "-P", str(host_pid), "-f", f"identity slot-{index} "]
    pids = [int(x) for x in subprocess.run(pgrep, capture_output=True, text=True).stdout.split()]
    return pids[0] if pids else None


def _crash_loop(host_pid: int, index: int) -> None:
    """Kill instance ``index`` as soon as each restart appears, until the host stops restarting it."""
    killed: set[int] = set()
    deadline = time.monotonic() + 8  # well inside the 10 s crash-loop window
    while len(killed) < CRASH_LOOP_LIMIT and time.monotonic() < deadline:
        pid = _instance(host_pid, index)
        if pid is not None and pid not in killed:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.01)
    assert len(killed) == CRASH_LOOP_LIMIT


def _wait_failed(client: EmulatorClient, failed: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while bool(client.hello().failures) != failed:
        assert time.monotonic() < deadline, f"the slot did not become {'failed' if failed else 'healthy'}"
        time.sleep(0.1)


@pytest.fixture
def host() -> Iterator[WorkerHost]:
    """A host in this process whose instances never start: requests to them wait in its queues."""
    host = WorkerHost(HostConfig(bind="tcp://127.0.0.1:0", slots=1))
    yield host
    host.close()


def _exchange(host: WorkerHost, sock: zmq.Socket[bytes], expected: int, timeout: float = 5.0) -> list[p.ErrorReply]:
    """Turn the host's crank until ``expected`` replies came back (or the time is up)."""
    replies: list[p.ErrorReply] = []
    deadline = time.monotonic() + timeout
    while len(replies) < expected and time.monotonic() < deadline:
        host.frontend.poll(10)
        host._drain(host.frontend, host._on_client)
        while sock.poll(0):
            reply = p.decode_reply(sock.recv_multipart())
            assert isinstance(reply, p.ErrorReply), reply
            replies.append(reply)
    return replies


def _client(host: WorkerHost) -> tuple[zmq.Socket[bytes], str]:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(host.endpoint)
    sock.send_multipart(p.encode_request(p.Lease(id=1)))
    deadline = time.monotonic() + 5
    while not sock.poll(10):
        assert time.monotonic() < deadline
        host._drain(host.frontend, host._on_client)
    reply = p.decode_reply(sock.recv_multipart())
    assert isinstance(reply, p.Reply)
    return sock, str(reply.fields["lease"])


@pytest.mark.parametrize("state", ["starting", "busy"])
def test_requests_beyond_the_bound_of_a_slots_queue_are_refused_at_once(host: WorkerHost, state: str) -> None:
    from emulator_worker.server import MAX_PENDING, MAX_QUEUED

    if state == "busy":
        host.procs[0].ready = True  # forwarded requests now wait for replies that never come
    bound = MAX_PENDING if state == "busy" else MAX_QUEUED
    sock, lease = _client(host)
    try:
        for i in range(bound + 10):
            sock.send_multipart(p.encode_request(p.Step(id=100 + i, lease=lease, segments=STEP)))
        refused = _exchange(host, sock, expected=10)
        assert [r.id for r in refused] == list(range(100 + bound, 110 + bound))
        assert all(r.type is p.ErrorType.NO_CAPACITY for r in refused)
        waiting = host.procs[0].pending if state == "busy" else host.procs[0].queued
        assert len(waiting) == bound
    finally:
        sock.close(0)


def test_the_hosts_sockets_limit_message_size_and_queue_depth(host: WorkerHost) -> None:
    for sock in (host.frontend, host.backend):
        assert sock.getsockopt(zmq.MAXMSGSIZE) == 64 * 1024 * 1024 + 64 * 1024
    assert host.frontend.getsockopt(zmq.RCVHWM) == host.frontend.getsockopt(zmq.SNDHWM) == 256
    assert host.backend.getsockopt(zmq.SNDHWM) == 1024  # above MAX_PENDING: the link never drops a request


def test_a_peer_sending_an_oversized_frame_is_cut_off_and_others_are_served(spawn_host) -> None:
    pool = spawn_host()
    endpoint = pool.endpoints[0]
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    header = p.encode_request(p.LoadState(id=1, lease="x", data=b""))[0]
    sock.send_multipart([header, b"\0" * (65 * 1024 * 1024)])
    assert not sock.poll(2000), "the host read a frame beyond its maximum message size"
    sock.close(0)
    with EmulatorClient(endpoint) as client:
        assert client.hello().backend == "sim"
    assert pool.proc is not None and pool.proc.poll() is None


def test_a_tripped_slot_answers_at_once_on_both_paths_and_its_neighbour_goes_on() -> None:
    host, endpoint = _serve("--slots", "2")
    try:
        with EmulatorClient(endpoint, timeout_ms=4000, retries=0) as doomed, EmulatorClient(endpoint) as neighbour:
            doomed.lease(1)  # slot 0, instance 0
            neighbour.lease(1)  # slot 1, instance 1
            doomed.reset(0)
            neighbour.reset(0)
            _crash_loop(host.pid, 0)
            _wait_failed(doomed, True, 10)
            for path in ("direct", "through the host"):
                if path == "through the host":
                    doomed._drop_direct()
                    doomed._direct_endpoints = []
                t0 = time.monotonic()
                with pytest.raises(errors.InstanceCrashedError, match="out of service"):
                    doomed.reset(0)
                assert time.monotonic() - t0 < 2.0, f"{path}: the failed slot took its time to answer"
            neighbour.step(0, STEP)
            assert host.poll() is None
    finally:
        host.terminate()
        host.wait(10)


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_the_breaker_tries_the_instance_again_after_its_cooldown(transport: str) -> None:
    # ipc too: the host's stand-in on the instance's socket file must be gone before the instance binds it.
    folder = tempfile.mkdtemp(prefix="sf2b-", dir="/tmp")
    bind = "tcp://127.0.0.1:0" if transport == "tcp" else f"ipc://{folder}/host"
    host, endpoint = _serve("--slots", "1", "--breaker-cooldown", "3", bind=bind)
    try:
        with EmulatorClient(endpoint, timeout_ms=4000) as client:
            client.lease(1, ttl=60)
            client.reset(0)
            _crash_loop(host.pid, 0)
            _wait_failed(client, True, 10)
            with pytest.raises(errors.InstanceCrashedError, match="out of service"):
                client.reset(0)
            _wait_failed(client, False, 30)  # tried again: the failure is gone once it is back up
            deadline = time.monotonic() + 30
            while True:  # the restarted instance may still be starting: a reset waits in its queue
                try:
                    client.reset(0, ram_ranges=RANGES)
                    break
                except (errors.InstanceCrashedError, errors.WorkerUnavailableError):
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            client.step(0, STEP, ram_ranges=RANGES)  # the lease lived through it
            assert client._direct_endpoints, "and the direct path with it"
    finally:
        host.terminate()
        host.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def test_an_instance_stuck_while_starting_is_restarted() -> None:
    cmd = [sys.executable, "-m", "emulator_worker", "serve", "--bind", "tcp://127.0.0.1:0", "--start-timeout", "3"]
    host = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while (stuck := _instance(host.pid, 0)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(stuck, signal.SIGSTOP)  # long before its imports are done, so it never reports ready
        assert host.stdout is not None
        endpoint = json.loads(host.stdout.readline())["endpoint"]
        with EmulatorClient(endpoint, timeout_ms=20000) as client:
            client.lease(1)
            client.reset(0)  # waits in the queue for the restarted instance
            assert _instance(host.pid, 0) not in (None, stuck)
    finally:
        host.terminate()
        host.wait(10)
