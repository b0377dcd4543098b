"""Thousands of malformed, truncated, oversized and out-of-order messages against a live host."""

from __future__ import annotations

import random

import msgpack
import zmq

from emulator_worker import protocol as p
from sf2rl.core.game.spec import Decoder
from sf2rl.core.game.specs import SIM
from sf2rl.transport.client import EmulatorClient

RANGES = Decoder(SIM).ranges
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


def test_host_survives_fuzz_and_other_clients_are_untouched(spawn_host) -> None:
    pool = spawn_host(slots=2)
    endpoint = pool.endpoints[0]
    victim = EmulatorClient(endpoint)
    victim.lease(1, ttl=60)
    victim.reset(0, ram_ranges=RANGES, seed=1)
    victim.step(0, (p.Segment(0, 0, 90),), ram_ranges=RANGES)
    before = victim.step(0, (p.Segment(0, 0, 0),), ram_ranges=RANGES).ram
    state_before = victim.save_state(0)

    fuzzer = EmulatorClient(endpoint)
    lease = fuzzer.lease(1, ttl=60)
    fuzzer.reset(0)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    rng = random.Random(1234)
    sent = replies = 0
    for _ in range(3000):
        sock.send_multipart(_message(rng, lease))
        sent += 1
        while sock.poll(0):
            p.decode_reply(sock.recv_multipart())  # every reply is itself well formed
            replies += 1
    while replies < sent and sock.poll(5000):
        p.decode_reply(sock.recv_multipart())
        replies += 1
    sock.close(0)
    assert replies == sent, "every message, however broken, gets a reply"

    assert victim.hello().backend == "sim"
    after = victim.step(0, (p.Segment(0, 0, 0),), ram_ranges=RANGES).ram
    assert after == before, "another client's instance state must not change"
    assert victim.save_state(0) == state_before
    fuzzer.close()
    victim.close()
