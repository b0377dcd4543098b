"""The wire contract: every message round-trips; every defect is a ProtocolError."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from emulator_worker import protocol as p

REQUESTS = [
    p.Hello(id=1),
    p.Lease(id=2, count=3, ttl=5.0, owner="trial-1"),
    p.Release(id=3, lease="abc"),
    p.Heartbeat(id=4, lease="abc"),
    p.Reset(
        id=5,
        lease="abc",
        slot=1,
        seed=7,
        characters=(2, 3),
        difficulty=8,
        two_player=True,
        ram_ranges=((0x500, 16), (0x18F3, 1)),
        want_frame=True,
    ),
    p.Step(id=6, lease="abc", slot=0, segments=(p.Segment(0x41, 0, 3), p.Segment(0, 2, 1)), ram_ranges=((0, 4),)),
    p.Frame(id=7, lease="abc", slot=0),
    p.SaveState(id=8, lease="abc", slot=2),
    p.LoadState(id=9, lease="abc", slot=2, data=b"\x00\x01state"),
]


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r.COMMAND.value)
def test_requests_round_trip(req: p.Request) -> None:
    assert p.decode_request(p.encode_request(req)) == req


def test_every_command_has_a_request_type() -> None:
    assert set(p.REQUEST_TYPES) == set(p.Command)


def test_reply_round_trip_with_buffers() -> None:
    frame = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    reply = p.decode_reply(p.encode_reply(p.Reply(11, {"frames_run": 9}, ram=b"\x01\x02", frame=frame, data=b"s")))
    assert isinstance(reply, p.Reply)
    assert reply.id == 11 and reply.fields == {"frames_run": 9}
    assert reply.ram == b"\x01\x02" and reply.data == b"s"
    assert reply.frame is not None
    np.testing.assert_array_equal(reply.frame, frame)


def test_error_reply_round_trip() -> None:
    reply = p.decode_reply(p.error_reply(3, p.ErrorType.LEASE, "gone", "Traceback..."))
    assert reply == p.ErrorReply(3, p.ErrorType.LEASE, "gone", "Traceback...")


def _raw(header: object, *bufs: bytes) -> list[bytes]:
    return [msgpack.packb(header), *bufs]


BAD = {
    "empty": [],
    "not msgpack": [b"\xc1\xc1\xc1"],
    "not a map": _raw([1, 2, 3]),
    "no version": _raw({"cmd": "hello", "id": 1}),
    "old version": _raw({"v": 0, "cmd": "hello", "id": 1}),
    "unknown command": _raw({"v": p.PROTOCOL_VERSION, "cmd": "format_c", "id": 1}),
    "negative id": _raw({"v": p.PROTOCOL_VERSION, "cmd": "hello", "id": -1}),
    "bool count": _raw({"v": p.PROTOCOL_VERSION, "cmd": "lease", "id": 1, "count": True}),
    "huge lease": _raw({"v": p.PROTOCOL_VERSION, "cmd": "lease", "id": 1, "count": 10**6}),
    "no segments": _raw({"v": p.PROTOCOL_VERSION, "cmd": "step", "id": 1, "lease": "a", "segments": []}),
    "too many frames": _raw(
        {"v": p.PROTOCOL_VERSION, "cmd": "step", "id": 1, "lease": "a", "segments": [[0, 0, p.MAX_FRAMES_PER_STEP + 1]]}
    ),
    "segment shape": _raw({"v": p.PROTOCOL_VERSION, "cmd": "step", "id": 1, "lease": "a", "segments": [[1, 2]]}),
    "range too big": _raw(
        {"v": p.PROTOCOL_VERSION, "cmd": "reset", "id": 1, "lease": "a", "ram_ranges": [[0, 1 << 21]]}
    ),
    "load without buffer": _raw({"v": p.PROTOCOL_VERSION, "cmd": "load_state", "id": 1, "lease": "a", "nbuf": 1}),
    "stray buffer": _raw({"v": p.PROTOCOL_VERSION, "cmd": "hello", "id": 1}, b"x"),
    "oversized header": [b"\x00" * (p.MAX_HEADER_BYTES + 1)],
}


@pytest.mark.parametrize("frames", list(BAD.values()), ids=list(BAD))
def test_malformed_requests_raise_protocol_error(frames: list[bytes]) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_request(frames)


def test_protocol_error_keeps_request_id_when_readable() -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_request(_raw({"v": p.PROTOCOL_VERSION, "cmd": "lease", "id": 42, "count": 0}))
    assert info.value.request_id == 42


TYPED = [
    (p.Command.HELLO, p.HostInfo(1, 1, "sim", 4, 3, games_per_instance=4, hostname="h", pid=9, curve=True,
                                 failures=("slot 2: boom",), buttons=("B", "Y"), backend_info={"game": "x"})),
    (p.Command.LEASE, p.LeaseGrant(2, "abc", ("tcp://*:7001",))),
    (p.Command.LEASE, p.LeaseGrant(3, "abc")),
    (p.Command.STEP, p.ObservationReply(4, b"\x01\x02", 120)),
    (p.Command.RESET, p.ObservationReply(5, b"", 0, np.zeros((2, 3, 3), np.uint8))),
    (p.Command.FRAME, p.FrameReply(6, np.ones((2, 2, 3), np.uint8))),
    (p.Command.SAVE_STATE, p.StateReply(7, b"state")),
    (p.Command.HEARTBEAT, p.Ack(8)),
]  # fmt: skip


@pytest.mark.parametrize(("command", "reply"), TYPED, ids=[f"{c.value}-{r.id}" for c, r in TYPED])
def test_typed_replies_round_trip_through_the_wire(command: p.Command, reply: p.TypedReply) -> None:
    decoded = p.decode_reply(p.encode_reply(reply))
    assert isinstance(decoded, p.Reply)
    parsed = p.parse_reply(command, decoded)
    assert type(parsed) is type(reply)
    for name, value in vars(reply).items():
        got = getattr(parsed, name)
        assert np.array_equal(got, value) if isinstance(value, np.ndarray) else got == value, name


@pytest.mark.parametrize(
    ("command", "fields"),
    [(p.Command.HELLO, {"version": 1, "backend": "sim", "slots": "two", "free": 1}),
     (p.Command.LEASE, {}), (p.Command.STEP, {"frames_run": True})],
)  # fmt: skip
def test_a_reply_missing_or_mistyping_a_field_is_a_protocol_error(command: p.Command, fields: dict) -> None:
    with pytest.raises(p.ProtocolError):
        p.parse_reply(command, p.Reply(1, fields))
