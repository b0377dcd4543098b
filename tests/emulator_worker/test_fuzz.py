"""Thousands of malformed, truncated, oversized and out-of-order messages against a live host.

Every socket a client can reach is fuzzed (the host's port and the instances' direct ports), from
sockets whose routing id varies, including every word of the host's private instance link. The
seed is fresh each run and printed; `FUZZ_SEED=<seed>` replays a failure.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
from collections.abc import Iterator

import msgpack
import pytest
import zmq

from emulator_worker import protocol as p
from emulator_worker.server import HostConfig, WorkerHost
from sf2rl.core.game.spec import Decoder
from sf2rl.core.game.specs import SIM
from sf2rl.transport.client import EmulatorClient

RANGES = Decoder(SIM).ranges
CONTROL_WORDS = [c.value for c in p.Control]
COMMANDS = [c.value for c in p.Command]
VALUES: list[object] = [
    None,
    True,
    -1,
    0,
    1,
    2**63,
    -(2**63),
    3.5,
    "x" * 300,
    b"\x00\xff",
    [],
    [1, 2],
    {"a": 1},
    [[0, 0, 1]] * 70,
]


def _message(rng: random.Random, lease: str) -> list[bytes]:
    kind = rng.randrange(8)
    if kind == 0:  # random bytes
        return [rng.randbytes(rng.randrange(0, 200))]
    if kind == 1:  # valid request, truncated
        frames = p.encode_request(p.Step(id=1, lease=lease, segments=(p.Segment(1, 0, 2),)))
        return [frames[0][: rng.randrange(len(frames[0]))]]
    if kind == 2:  # oversized header or buffers
        return [
            rng.choice(
                [
                    b"\x80" * (p.MAX_HEADER_BYTES + 10),
                    msgpack.packb({"v": 1, "cmd": "load_state", "id": 3, "lease": lease, "nbuf": 1}),
                ]
            ),
            b"\x00" * rng.choice([10, 2_000_000]),
        ]
    if kind == 3:  # right shape, wrong field types
        header = {"v": p.PROTOCOL_VERSION, "cmd": rng.choice(COMMANDS), "id": rng.randrange(1000)}
        for key in ("lease", "slot", "count", "ttl", "segments", "ram_ranges", "seed", "characters", "difficulty"):
            if rng.random() < 0.4:
                header[key] = rng.choice(VALUES)
        return [msgpack.packb(header)]
    if kind == 4:  # out of order: slot commands on leases that do not exist
        return p.encode_request(p.Step(id=5, lease="f" * 32, segments=(p.Segment(0, 0, 1),)))
    if kind == 5:  # garbage savestate on our own (second) slot
        return p.encode_request(p.LoadState(id=6, lease=lease, slot=0, data=rng.randbytes(rng.randrange(1, 500))))
    if kind == 6:  # extra frames
        return [*p.encode_request(p.Hello(id=7)), b"junk", b"more"]
    return [msgpack.packb(rng.choice(VALUES))]  # a non-map header


@pytest.fixture(scope="module")
def seed() -> int:
    value = int(os.environ.get("FUZZ_SEED") or secrets.randbits(32))
    print(f"fuzz seed {value}; replay with FUZZ_SEED={value}")
    return value


def _identities(rng: random.Random, extra: int) -> list[bytes]:
    """Every control word (the old ones and any new), instance names, ZeroMQ-style ids and random ones."""
    chosen = [*CONTROL_WORDS, b"slot-0", b"slot-1", b"\x00" + rng.randbytes(4), b"\x00"]
    chosen += [rng.randbytes(rng.randrange(1, 256)) for _ in range(extra)]
    return list(dict.fromkeys(chosen))  # a routing id may be taken once per socket


def _valid(rng: random.Random, lease: str) -> list[bytes]:
    """A well-formed request on the fuzzer's own lease: it travels the host's internal hop."""
    rid = rng.randrange(1, 2**31)
    return p.encode_request(
        rng.choice(
            [
                p.Reset(id=rid, lease=lease, seed=rng.randrange(100), ram_ranges=RANGES),
                p.Step(id=rid, lease=lease, segments=(p.Segment(rng.randrange(4096), 0, rng.randrange(1, 8)),)),
                p.Frame(id=rid, lease=lease),
                p.SaveState(id=rid, lease=lease),
                p.Heartbeat(id=rid, lease=lease),
                p.Hello(id=rid),
            ]
        )
    )


def _fuzz(endpoint: str, identity: bytes, messages: list[list[bytes]], seed: int) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if identity:
        sock.setsockopt(zmq.IDENTITY, identity)
    sock.connect(endpoint)
    replies = 0
    try:
        for message in messages:
            sock.send_multipart(message)
            while sock.poll(0):
                p.decode_reply(sock.recv_multipart())  # every reply is itself well formed
                replies += 1
        while replies < len(messages) and sock.poll(5000):
            p.decode_reply(sock.recv_multipart())
            replies += 1
    finally:
        sock.close(0)
    assert replies == len(messages), f"seed {seed}, id {identity!r} on {endpoint}: {replies}/{len(messages)} replies"


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return sorted(int(x) for x in out.stdout.split())


@pytest.fixture
def shared_host() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Three slots, two of them games of one process: the fuzzer shares its instance with the victim."""
    cmd = [sys.executable, "-m", "emulator_worker", "serve", "--bind", "tcp://127.0.0.1:0", "--slots", "3",
           "--games-per-instance", "2"]  # fmt: skip
    host = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None
        yield host, json.loads(host.stdout.readline())["endpoint"]
    finally:
        host.terminate()
        host.wait(10)


def test_host_survives_fuzz_and_other_clients_are_untouched(shared_host, seed: int) -> None:
    host, endpoint = shared_host
    rng = random.Random(seed)
    instances = _children(host.pid)
    assert len(instances) == 2
    victim = EmulatorClient(endpoint)
    victim_lease = victim.lease(1, ttl=60)  # slot 0: game 0 of the first process
    victim.reset(0, ram_ranges=RANGES, seed=1)
    victim.step(0, (p.Segment(0, 0, 90),), ram_ranges=RANGES)
    before = victim.step(0, (p.Segment(0, 0, 0),), ram_ranges=RANGES).ram
    state_before = victim.save_state(0)

    fuzzer = EmulatorClient(endpoint)
    lease = fuzzer.lease(1, ttl=60)  # slot 1: game 1 of the same process
    fuzzer.reset(0)
    direct = [e.replace("tcp://*:", "tcp://127.0.0.1:") for e in fuzzer._direct_endpoints]
    assert direct, "the host offers direct ports on loopback"

    # The host's port: mostly requests that reach the instance, where the routing id rides along.
    for identity in _identities(rng, 6):
        messages = [_valid(rng, lease) if rng.random() < 0.6 else _message(rng, lease) for _ in range(60)]
        _fuzz(endpoint, identity, messages, seed)
    # The shared instance's own port, with the same ids.
    for identity in _identities(rng, 3):
        messages = [_valid(rng, lease) if rng.random() < 0.5 else _message(rng, lease) for _ in range(30)]
        _fuzz(direct[0], identity, messages, seed)
    # And a long run of garbage from ZeroMQ's own routing id, as before.
    _fuzz(endpoint, b"", [_message(rng, lease) for _ in range(1500)], seed)

    assert host.poll() is None, f"seed {seed}: the host died"
    assert _children(host.pid) == instances, f"seed {seed}: an instance was restarted"
    info = victim.hello()
    assert info.failures == () and info.slots == 3, f"seed {seed}: {info}"
    after = victim.step(0, (p.Segment(0, 0, 0),), ram_ranges=RANGES).ram
    assert after == before, f"seed {seed}: another client's instance state must not change"
    assert victim.save_state(0) == state_before
    # The neighbour's slot also still answers through the host, not only on its direct port.
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send_multipart(p.encode_request(p.SaveState(id=1, lease=victim_lease, slot=0)))
    assert sock.poll(5000), f"seed {seed}: no reply through the host"
    reply = p.decode_reply(sock.recv_multipart())
    sock.close(0)
    assert isinstance(reply, p.Reply) and reply.data == state_before, f"seed {seed}: {reply}"
    fuzzer.close()
    victim.close()


def test_control_link_messages_of_any_shape_cannot_stop_the_host(seed: int, capsys) -> None:
    """The instances' side of the host: whatever one sends (it is ours, but may be buggy) costs no more than it."""
    rng = random.Random(seed)
    host = WorkerHost(HostConfig(bind="tcp://127.0.0.1:0", slots=1))
    try:
        words = [*CONTROL_WORDS, b"", b"slot-0", rng.randbytes(8)]
        for _ in range(500):
            frames = [rng.choice([rng.randbytes(rng.randrange(0, 40)), msgpack.packb(rng.choice(VALUES))])
                      for _ in range(rng.randrange(0, 4))]  # fmt: skip
            host._on_instance([b"slot-0", rng.choice(words), *frames])
            host._on_instance([rng.choice([b"slot-0", b"stranger"]), *frames[:1]])
        assert host.describe(1).slots == 1
        assert "Traceback" not in capsys.readouterr().err, f"seed {seed}"
    finally:
        host.close()
