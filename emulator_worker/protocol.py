"""The one wire contract between sf2rl clients and emulator worker hosts.

A message is a ZeroMQ multipart: frame 0 is a msgpack map (the header), the
following frames are raw byte buffers (RAM, RGB frames, savestates) that the
header describes. Nothing is ever pickled. Both sides import this module; the
BizHawk Lua bridge's command names are checked against :class:`Command`.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgpack
import numpy as np

PROTOCOL_VERSION = 1
MAX_HEADER_BYTES = 64 * 1024
MAX_FRAMES_PER_STEP = 60 * 60 * 10
MAX_SLOTS_PER_LEASE = 64
MAX_RAM_RANGES = 64
MAX_SEGMENTS = 64
MAX_BUFFER_BYTES = 64 * 1024 * 1024
MAX_BUTTON_MASK = (1 << 32) - 1
MAX_MESSAGE_BYTES = MAX_BUFFER_BYTES + MAX_HEADER_BYTES
"""ZeroMQ's per-frame limit on every socket of a host (``zmq.MAXMSGSIZE``): a peer that sends more is cut off."""


class Command(enum.StrEnum):
    """Every request a client can send to a worker host."""

    HELLO = "hello"
    LEASE = "lease"
    RELEASE = "release"
    HEARTBEAT = "heartbeat"
    RESET = "reset"
    STEP = "step"
    FRAME = "frame"
    SAVE_STATE = "save_state"
    LOAD_STATE = "load_state"


class Control(bytes, enum.Enum):
    """The first frame of every message on the host's private link to its instance processes.

    Every message on that link starts with one of these words, chosen by the host or the
    instance, never by a client. A client's request travels inside a FORWARD envelope and its
    reply inside a REPLY one, with the client's routing id (which a client may choose freely,
    e.g. ``b"READY"``) in the frame after the word, where it is only ever an address.
    """

    READY = b"READY"  # instance -> host: backend up; a JSON frame with its buttons follows
    FAILED = b"FAILED"  # instance -> host: backend could not start; the reason follows
    GRANT = b"GRANT"  # host -> instance: this lease id may use you now
    REVOKE = b"REVOKE"  # host -> instance: the lease ended; forget its match
    PING = b"PING"  # host -> instance: are you alive?
    PONG = b"PONG"  # instance -> host: yes
    FORWARD = b"FORWARD"  # host -> instance: [client routing id, *request frames]
    REPLY = b"REPLY"  # instance -> host: [client routing id, *reply frames]


class ErrorType(enum.StrEnum):
    """Error kinds a host reports; clients map each to one exception type."""

    BAD_REQUEST = "BadRequest"
    VERSION_MISMATCH = "VersionMismatch"
    LEASE = "LeaseError"
    NO_CAPACITY = "NoCapacity"
    INSTANCE_CRASHED = "InstanceCrashed"
    BACKEND = "BackendError"
    INTERNAL = "InternalError"


class ProtocolError(ValueError):
    """A message does not follow this contract."""

    def __init__(self, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Segment:
    """Hold ``p1`` (and ``p2`` in two-controller mode) for ``frames`` frames."""

    p1: int
    p2: int
    frames: int


@dataclass(frozen=True)
class Request:
    """Base of all requests; ``id`` is echoed in the reply."""

    COMMAND: ClassVar[Command]
    id: int


@dataclass(frozen=True)
class Hello(Request):
    """Version handshake; the reply describes the host."""

    COMMAND: ClassVar[Command] = Command.HELLO
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Lease(Request):
    """Reserve ``count`` emulator slots, kept alive by heartbeats for ``ttl`` s."""

    COMMAND: ClassVar[Command] = Command.LEASE
    count: int = 1
    ttl: float = 30.0
    owner: str = ""


@dataclass(frozen=True)
class Release(Request):
    """Give a lease's slots back."""

    COMMAND: ClassVar[Command] = Command.RELEASE
    lease: str = ""


@dataclass(frozen=True)
class Heartbeat(Request):
    """Keep a lease alive."""

    COMMAND: ClassVar[Command] = Command.HEARTBEAT
    lease: str = ""


@dataclass(frozen=True)
class Reset(Request):
    """Start a new match on one slot and return the requested RAM ranges."""

    COMMAND: ClassVar[Command] = Command.RESET
    lease: str = ""
    slot: int = 0
    seed: int = 0
    characters: tuple[int, int] = (0, 1)
    difficulty: int = 3
    two_player: bool = False
    state: str = ""
    ram_ranges: tuple[tuple[int, int], ...] = ()
    want_frame: bool = False


@dataclass(frozen=True)
class Step(Request):
    """Run input segments on one slot, then return RAM ranges (and a frame)."""

    COMMAND: ClassVar[Command] = Command.STEP
    lease: str = ""
    slot: int = 0
    segments: tuple[Segment, ...] = ()
    ram_ranges: tuple[tuple[int, int], ...] = ()
    want_frame: bool = False


@dataclass(frozen=True)
class Frame(Request):
    """Return the current RGB frame of a slot."""

    COMMAND: ClassVar[Command] = Command.FRAME
    lease: str = ""
    slot: int = 0


@dataclass(frozen=True)
class SaveState(Request):
    """Return a slot's savestate as bytes."""

    COMMAND: ClassVar[Command] = Command.SAVE_STATE
    lease: str = ""
    slot: int = 0


@dataclass(frozen=True)
class LoadState(Request):
    """Restore a slot from savestate bytes (sent as a buffer frame)."""

    COMMAND: ClassVar[Command] = Command.LOAD_STATE
    lease: str = ""
    slot: int = 0
    data: bytes = b""


REQUEST_TYPES: dict[Command, type[Request]] = {
    t.COMMAND: t for t in (Hello, Lease, Release, Heartbeat, Reset, Step, Frame, SaveState, LoadState)
}
SlotRequest = Reset | Step | Frame | SaveState | LoadState
SLOT_REQUESTS = (Reset, Step, Frame, SaveState, LoadState)
SLOT_COMMANDS = frozenset({Command.RESET, Command.STEP, Command.FRAME, Command.SAVE_STATE, Command.LOAD_STATE})


# ------------------------------------------------------------------ replies


@dataclass(frozen=True)
class Reply:
    """A successful reply: header fields plus optional buffers."""

    id: int
    fields: dict[str, Any] = field(default_factory=dict)
    ram: bytes | None = None
    frame: np.ndarray | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class ErrorReply:
    """A failed request: the error's kind, message and remote traceback."""

    id: int | None
    type: ErrorType
    message: str
    traceback: str = ""
    slot: int | None = None
    """For a crash notice (no id): which of the lease's slots died."""


# ------------------------------------------------------------ typed replies
# What each command answers, as types (like the requests). They travel as a :class:`Reply`
# (header fields plus buffers), so the wire format, and the protocol version, are unchanged;
# :func:`parse_reply` checks a reply's fields against the command it answers.


@dataclass(frozen=True)
class HostInfo:
    """HELLO: what a host runs, how much of it is free, and its backend's facts (buttons...)."""

    id: int
    version: int
    backend: str
    slots: int
    free: int
    games_per_instance: int = 1
    hostname: str = ""
    pid: int = 0
    curve: bool = False
    failures: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    backend_info: dict[str, Any] = field(default_factory=dict)
    """Whatever else the backend reports (e.g. the ROM or game it loaded)."""

    def wire(self) -> Reply:
        """As a generic reply."""
        fields = {k: getattr(self, k) for k in HOST_FIELDS}
        return Reply(self.id, {**self.backend_info, **fields, "failures": list(self.failures),
                               "buttons": list(self.buttons)})  # fmt: skip


HOST_FIELDS = ("version", "backend", "slots", "free", "games_per_instance", "hostname", "pid", "curve")


@dataclass(frozen=True)
class LeaseGrant:
    """LEASE: the lease id, and each slot's own instance endpoint when the direct path is on."""

    id: int
    lease: str
    direct: tuple[str, ...] = ()

    def wire(self) -> Reply:
        """As a generic reply."""
        return Reply(self.id, {"lease": self.lease, **({"direct": list(self.direct)} if self.direct else {})})


@dataclass(frozen=True)
class ObservationReply:
    """RESET and STEP: the requested RAM ranges (concatenated), an optional frame, frames run so far."""

    id: int
    ram: bytes
    frames_run: int
    frame: np.ndarray | None = None

    def wire(self) -> Reply:
        """As a generic reply."""
        return Reply(self.id, {"frames_run": self.frames_run}, ram=self.ram, frame=self.frame)


@dataclass(frozen=True)
class FrameReply:
    """FRAME: the current RGB frame."""

    id: int
    frame: np.ndarray

    def wire(self) -> Reply:
        """As a generic reply."""
        return Reply(self.id, frame=self.frame)


@dataclass(frozen=True)
class StateReply:
    """SAVE_STATE: the emulator's savestate bytes."""

    id: int
    data: bytes

    def wire(self) -> Reply:
        """As a generic reply."""
        return Reply(self.id, data=self.data)


@dataclass(frozen=True)
class Ack:
    """HEARTBEAT, RELEASE, LOAD_STATE: done, nothing to return."""

    id: int

    def wire(self) -> Reply:
        """As a generic reply."""
        return Reply(self.id)


TypedReply = HostInfo | LeaseGrant | ObservationReply | FrameReply | StateReply | Ack


def _need(reply: Reply, name: str, kind: type | tuple[type, ...]) -> Any:
    value = reply.fields.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ProtocolError(f"reply {reply.id}: field {name!r} must be {kind}, got {value!r}", reply.id)
    return value


def _host(r: Reply) -> HostInfo:
    optional = {k: r.fields[k] for k in HOST_FIELDS[4:] if k in r.fields}
    rest = {k: v for k, v in r.fields.items() if k not in (*HOST_FIELDS, "failures", "buttons")}
    return HostInfo(
        r.id, _need(r, "version", int), _need(r, "backend", str), _need(r, "slots", int), _need(r, "free", int),
        **optional, failures=tuple(str(f) for f in r.fields.get("failures") or ()),
        buttons=tuple(str(b) for b in r.fields.get("buttons") or ()), backend_info=rest,
    )  # fmt: skip


def _grant(r: Reply) -> LeaseGrant:
    return LeaseGrant(r.id, _need(r, "lease", str), tuple(str(e) for e in r.fields.get("direct") or ()))


def _observation(r: Reply) -> ObservationReply:
    return ObservationReply(r.id, r.ram or b"", int(_need(r, "frames_run", int)), r.frame)


def _frame(r: Reply) -> FrameReply:
    if r.frame is None:
        raise ProtocolError(f"reply {r.id}: a frame reply carried no frame", r.id)
    return FrameReply(r.id, r.frame)


def _state(r: Reply) -> StateReply:
    if r.data is None:
        raise ProtocolError(f"reply {r.id}: a savestate reply carried no data", r.id)
    return StateReply(r.id, r.data)


REPLIES: dict[Command, Any] = {
    Command.HELLO: _host,
    Command.LEASE: _grant,
    Command.RESET: _observation,
    Command.STEP: _observation,
    Command.FRAME: _frame,
    Command.SAVE_STATE: _state,
    Command.LOAD_STATE: lambda r: Ack(r.id),
    Command.HEARTBEAT: lambda r: Ack(r.id),
    Command.RELEASE: lambda r: Ack(r.id),
}  # fmt: skip
"""How to read each command's reply."""


def parse_reply(command: Command, reply: Reply) -> TypedReply:
    """``reply`` as the type ``command`` answers with; :class:`ProtocolError` if its fields do not fit."""
    try:
        parsed: TypedReply = REPLIES[command](reply)
    except (TypeError, ValueError, KeyError) as e:
        if isinstance(e, ProtocolError):
            raise
        raise ProtocolError(f"reply {reply.id} to {command.value} is malformed: {e}", reply.id) from e
    return parsed


# --------------------------------------------------------------- encoding


def _pack(header: dict[str, Any]) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


def encode_request(req: Request) -> list[bytes]:
    """Encode a request as multipart frames."""
    header: dict[str, Any] = {"v": PROTOCOL_VERSION, "cmd": req.COMMAND.value}
    buffers: list[bytes] = []
    for f in dataclasses.fields(req):
        value = getattr(req, f.name)
        if f.name == "data":
            header["nbuf"] = 1
            buffers.append(bytes(value))
        elif f.name == "segments":
            header["segments"] = [(s.p1, s.p2, s.frames) for s in value]
        else:
            header[f.name] = value
    return [_pack(header), *buffers]


def encode_reply(reply: Reply | TypedReply | ErrorReply) -> list[bytes]:
    """Encode a reply (typed, generic, or an error reply) as multipart frames."""
    if not isinstance(reply, (Reply, ErrorReply)):
        reply = reply.wire()
    if isinstance(reply, ErrorReply):
        header: dict[str, Any] = {
            "v": PROTOCOL_VERSION,
            "id": reply.id,
            "ok": False,
            "error": {"type": reply.type.value, "message": reply.message, "traceback": reply.traceback},
        }
        if reply.slot is not None:
            header["error"]["slot"] = reply.slot
        return [_pack(header)]
    header = {"v": PROTOCOL_VERSION, "id": reply.id, "ok": True, **reply.fields}
    buffers: list[bytes] = []
    if reply.ram is not None:
        header["ram"] = len(buffers)
        buffers.append(reply.ram)
    if reply.frame is not None:
        header["frame"] = [len(buffers), list(reply.frame.shape)]
        buffers.append(np.ascontiguousarray(reply.frame, dtype=np.uint8).tobytes())
    if reply.data is not None:
        header["data"] = len(buffers)
        buffers.append(reply.data)
    return [_pack(header), *buffers]


def _unpack_header(frames: list[bytes]) -> dict[str, Any]:
    if not frames:
        raise ProtocolError("empty message")
    raw = frames[0]
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header is {len(raw)} bytes, limit {MAX_HEADER_BYTES}")
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True, max_bin_len=MAX_HEADER_BYTES)
    except Exception as e:  # msgpack raises many unrelated types for garbage
        raise ProtocolError(f"header is not valid msgpack: {e}") from e
    if not isinstance(header, dict):
        raise ProtocolError("header must be a msgpack map")
    if sum(len(f) for f in frames[1:]) > MAX_BUFFER_BYTES:
        raise ProtocolError(f"buffers exceed {MAX_BUFFER_BYTES} bytes")
    return header


def _int(header: dict[str, Any], key: str, lo: int, hi: int, default: int | None = None) -> int:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProtocolError(f"field {key!r} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _float(header: dict[str, Any], key: str, lo: float, hi: float, default: float) -> float:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ProtocolError(f"field {key!r} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _str(header: dict[str, Any], key: str, max_len: int = 256) -> str:
    value = header.get(key, "")
    if not isinstance(value, str) or len(value) > max_len:
        raise ProtocolError(f"field {key!r} must be a string of at most {max_len} characters")
    return value


def _bool(header: dict[str, Any], key: str) -> bool:
    value = header.get(key, False)
    if not isinstance(value, bool):
        raise ProtocolError(f"field {key!r} must be a boolean, got {value!r}")
    return value


def _pairs(header: dict[str, Any], key: str, limit: int, names: tuple[str, ...]) -> list[tuple[int, ...]]:
    value = header.get(key, [])
    if not isinstance(value, list) or len(value) > limit:
        raise ProtocolError(f"field {key!r} must be a list of at most {limit} entries")
    out = []
    for item in value:
        if not isinstance(item, list) or len(item) != len(names):
            raise ProtocolError(f"each {key!r} entry must be [{', '.join(names)}]")
        entry = dict(zip(names, item, strict=True))
        out.append(tuple(_int(entry, n, 0, MAX_BUTTON_MASK) for n in names))
    return out


def decode_request(frames: list[bytes]) -> Request:
    """Decode and validate a request; raise :class:`ProtocolError` on any defect."""
    header = _unpack_header(frames)
    req_id = header.get("id")
    rid = req_id if isinstance(req_id, int) and not isinstance(req_id, bool) else None
    try:
        version = header.get("v")
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"protocol version {version!r} is not supported (host speaks {PROTOCOL_VERSION})")
        try:
            cmd = Command(str(header.get("cmd")))
        except ValueError as e:
            raise ProtocolError(f"unknown command {header.get('cmd')!r}; valid: {[c.value for c in Command]}") from e
        rid = _int(header, "id", 0, 2**63 - 1)
        kw: dict[str, Any] = {"id": rid}
        if cmd is Command.HELLO:
            kw["version"] = _int(header, "version", 0, 2**31, PROTOCOL_VERSION)
        elif cmd is Command.LEASE:
            kw["count"] = _int(header, "count", 1, MAX_SLOTS_PER_LEASE, 1)
            kw["ttl"] = _float(header, "ttl", 0.1, 86400.0, 30.0)
            kw["owner"] = _str(header, "owner")
        else:
            kw["lease"] = _str(header, "lease", 64)
        if cmd in SLOT_COMMANDS:
            kw["slot"] = _int(header, "slot", 0, 4095, 0)
        if cmd in (Command.RESET, Command.STEP):
            ranges = _pairs(header, "ram_ranges", MAX_RAM_RANGES, ("addr", "len"))
            if any(n > 1 << 20 for _, n in ranges):
                raise ProtocolError("a RAM range may not exceed 1 MiB")
            kw["ram_ranges"] = tuple((a, n) for a, n in ranges)
            kw["want_frame"] = _bool(header, "want_frame")
        if cmd is Command.RESET:
            kw["seed"] = _int(header, "seed", 0, 2**63 - 1, 0)
            chars = header.get("characters", [0, 1])
            if not isinstance(chars, list) or len(chars) != 2:
                raise ProtocolError("field 'characters' must be [p1, p2]")
            kw["characters"] = tuple(_int({"c": c}, "c", 0, 255) for c in chars)
            kw["difficulty"] = _int(header, "difficulty", 0, 255, 3)
            kw["two_player"] = _bool(header, "two_player")
            kw["state"] = _str(header, "state")
        elif cmd is Command.STEP:
            segs = _pairs(header, "segments", MAX_SEGMENTS, ("p1", "p2", "frames"))
            if not segs or sum(s[2] for s in segs) > MAX_FRAMES_PER_STEP:
                raise ProtocolError(
                    f"a step needs 1..{MAX_SEGMENTS} segments totalling at most {MAX_FRAMES_PER_STEP} frames"
                )
            kw["segments"] = tuple(Segment(*s) for s in segs)
        elif cmd is Command.LOAD_STATE:
            if header.get("nbuf") != 1 or len(frames) != 2:
                raise ProtocolError("load_state carries exactly one buffer frame")
            kw["data"] = bytes(frames[1])
        if cmd is not Command.LOAD_STATE and len(frames) != 1:
            raise ProtocolError(f"{cmd.value} carries no buffer frames, got {len(frames) - 1}")
        return REQUEST_TYPES[cmd](**kw)
    except ProtocolError as e:
        e.request_id = rid
        raise


def decode_reply(frames: list[bytes]) -> Reply | ErrorReply:
    """Decode a reply; raise :class:`ProtocolError` on a malformed one."""
    header = _unpack_header(frames)
    if header.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"reply speaks protocol {header.get('v')!r}, client speaks {PROTOCOL_VERSION}")
    rid = header.pop("id", None)
    ok = header.pop("ok", None)
    header.pop("v")
    if ok is False:
        err = header.get("error") or {}
        try:
            etype = ErrorType(str(err.get("type")))
        except ValueError:
            etype = ErrorType.INTERNAL
        slot = err.get("slot")
        slot = slot if isinstance(slot, int) and not isinstance(slot, bool) else None
        return ErrorReply(rid, etype, str(err.get("message", "")), str(err.get("traceback", "")), slot)
    if ok is not True or not isinstance(rid, int):
        raise ProtocolError("reply lacks 'ok' or 'id'")
    bufs = frames[1:]
    try:
        ram = bytes(bufs[header.pop("ram")]) if "ram" in header else None
        frame = None
        if "frame" in header:
            idx, shape = header.pop("frame")
            frame = np.frombuffer(bufs[idx], dtype=np.uint8).reshape(shape)
        data = bytes(bufs[header.pop("data")]) if "data" in header else None
    except (IndexError, ValueError, TypeError) as e:
        raise ProtocolError(f"reply buffers do not match its header: {e}") from e
    return Reply(rid, header, ram, frame, data)


def error_reply(req_id: int | None, etype: ErrorType, message: str, tb: str = "") -> list[bytes]:
    """Shorthand for an encoded :class:`ErrorReply`."""
    return encode_reply(ErrorReply(req_id, etype, message, tb))
