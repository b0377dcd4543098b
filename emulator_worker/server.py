"""The worker host: a ROUTER that leases emulator slots and routes requests to them.

Clients talk to one ROUTER (the frontend). Slots live in :class:`Instance`
child processes connected to an internal ROUTER (the backend), one game per
process by default; backends that allow it run several games per process, so a
client stepping them together wakes one process instead of several. The host only
decodes headers to check leases; payloads are forwarded as they are. Nothing a
client sends can stop the loop: every defect becomes an error reply.

On the internal hop every message starts with a :class:`~emulator_worker.protocol.Control`
word that the host or an instance wrote; a client's request and its reply ride in
FORWARD/REPLY envelopes, so the routing id a client picks for itself is only ever an address.
Queues are bounded, and a slot whose instance keeps crashing (or cannot start) is taken out of
service: its requests are answered at once with an error (on the direct path too, by a
stand-in socket on the instance's port) until the breaker tries the instance again.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from emulator_worker import protocol as p
from emulator_worker.backends import multi_game
from emulator_worker.instances import LINK_HWM, SPIN_US, DataSocket, Instance, limit_socket

CRASH_LOOP_WINDOW = 10.0
CRASH_LOOP_LIMIT = 5
BREAKER_COOLDOWN_S = 30.0
"""How long a slot stays out of service after its breaker trips, before its instance is tried again."""
PING_INTERVAL_S = 1.0
MAX_PENDING = 512
"""Requests forwarded to one instance process and not yet answered (below the sockets' high-water
mark, so the internal hop never drops a request silently)."""
MAX_QUEUED = 256
"""Requests held for one instance process while it (re)starts."""
MAX_WAITING_BYTES = 256 * 1024 * 1024
"""Bytes of requests (pending and queued) one instance process may owe replies to."""
LOOPBACK = ("tcp://127.", "tcp://[::1]", "tcp://localhost")
"""Endpoint prefixes only this machine can reach."""


def is_local(endpoint: str) -> bool:
    """Whether ``endpoint`` is reachable from this machine only (loopback, ipc or inproc)."""
    return endpoint.startswith(("ipc://", "inproc://", *LOOPBACK))


@dataclass
class HostConfig:
    """Everything `emulator-worker serve` was told."""

    backend: str = "sim"
    backend_options: dict[str, Any] = field(default_factory=dict)
    slots: int = 1
    bind: str = "tcp://127.0.0.1:5555"
    curve_secret_key: Path | None = None
    authorized_keys: Path | None = None
    allow_any_client: bool = False
    """With a host key but no ``authorized_keys``: admit every client (encrypted, not authenticated)."""
    parent_pid: int | None = None
    idle_exit: float | None = None
    instance_timeout: float = 60.0
    start_timeout: float = 120.0
    """Restart an instance that has not reported ready (or failed) this long after it was started."""
    breaker_cooldown: float = BREAKER_COOLDOWN_S
    """Seconds a slot stays out of service after its breaker trips, before its instance is tried again."""
    direct: bool | None = None
    """Let lessees talk to their instances' own sockets (one hop per step instead of two).
    None: only on loopback/ipc binds or with ``direct_port_base``, since a remote host's firewall
    and port mappings usually open just the one port."""
    direct_port_base: int | None = None
    """Instance ``i`` serves directly on this port + ``i`` (to open in a firewall); default: free ports."""
    spin_us: int = SPIN_US
    """After each reply an instance polls this long for the next request before sleeping (0: never)."""
    games_per_instance: int = 1
    """Slots each instance process runs. Every message wakes a process, so a lessee stepping the games
    of one process together pays one wake-up per batch instead of one per game; only backends that
    can run several emulators in one process allow >1."""

    def check(self) -> None:
        """Raise ValueError, in one line, for settings no host can run with."""
        if self.slots < 1:
            raise ValueError(f"--slots must be at least 1, got {self.slots}")
        if self.games_per_instance < 1:
            raise ValueError(f"--games-per-instance must be at least 1, got {self.games_per_instance}")
        if self.games_per_instance > 1 and not multi_game(self.backend):
            raise ValueError(f"backend {self.backend!r} runs one game per process; use --games-per-instance 1")
        for name in ("instance_timeout", "start_timeout", "breaker_cooldown"):
            if not getattr(self, name) > 0:  # also refuses NaN
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.idle_exit is not None and not self.idle_exit > 0:
            raise ValueError(f"--idle-exit must be positive, got {self.idle_exit}")
        if self.spin_us < 0:
            raise ValueError(f"--spin-us must be 0 or more, got {self.spin_us}")
        if self.direct_port_base is not None and not 1 <= self.direct_port_base <= 65535 - self.slots:
            raise ValueError(f"--direct-ports must start in 1..{65535 - self.slots}, got {self.direct_port_base}")
        if self.authorized_keys is not None and self.curve_secret_key is None:
            raise ValueError("--authorized-keys needs --curve-secret-key (the host's own key pair)")
        if self.allow_any_client and self.curve_secret_key is None:
            raise ValueError("--allow-any-client needs --curve-secret-key (the host's own key pair)")
        if self.curve_secret_key is not None:
            check_secret_key(self.curve_secret_key)
            if self.authorized_keys is None and not self.allow_any_client:
                raise ValueError(
                    "--curve-secret-key needs --authorized-keys DIR (the client keys allowed in), or "
                    "--allow-any-client to admit every client"
                )
            if self.authorized_keys is not None and not self.authorized_keys.is_dir():
                raise ValueError(f"--authorized-keys {self.authorized_keys}: no such folder")


def check_secret_key(path: Path) -> None:
    """Raise ValueError unless ``path`` is a key file only its owner can read (as ssh demands)."""
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise ValueError(f"host key {path}: {e.strerror or e}") from e
    if not stat.S_ISREG(mode):
        raise ValueError(f"host key {path} is not a file")
    if sys.platform != "win32" and mode & 0o077:
        raise ValueError(
            f"host key {path} is open to other users (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )


@dataclass
class Proc:
    """An instance process, its health and the requests it owes replies to."""

    instance: Instance
    slots: list[Slot] = field(default_factory=list)
    ready: bool = False
    failed: str = ""
    fault: p.ErrorType = p.ErrorType.BACKEND
    """What ``failed`` is: a backend that could not start, or a crash loop."""
    retry_at: float = 0.0
    """When a failed process is tried again (the breaker's cool-down)."""
    probation: bool = False
    """Tried again after a cool-down and not ready yet: one more crash opens the breaker again."""
    stand_in: zmq.Socket[bytes] | None = None
    """While failed: a socket on the instance's direct endpoint that answers every request with the failure."""
    last_pong: float = 0.0
    pending: deque[tuple[bytes, int, float, int]] = field(default_factory=deque)
    """(client, request id, sent at, bytes) of each request forwarded and not yet answered."""
    queued: deque[tuple[bytes, int, list[bytes]]] = field(default_factory=deque)
    """(client, request id, frames) of each request held while the process (re)starts."""
    waiting_bytes: int = 0
    crashes: deque[float] = field(default_factory=deque)


@dataclass
class Slot:
    """A host slot: one game of an instance process, and who holds it."""

    index: int
    proc: Proc
    game: int
    """Which of its process's games this slot is."""
    lease: str | None = None


@dataclass
class LeaseRecord:
    """A client's claim on some slots, valid while heartbeats arrive."""

    id: str
    slots: list[int]
    ttl: float
    owner: str
    last_seen: float
    client: bytes = b""
    """Identity of the socket that leased, told when one of its instances crashes."""


class WorkerHost:
    """Serve emulator slots over ZeroMQ until stopped."""

    def __init__(self, config: HostConfig) -> None:
        self.config = config
        config.check()
        curve = _load_curve(config.curve_secret_key) if config.curve_secret_key is not None else None
        self.ctx = zmq.Context()
        self.auth: ThreadAuthenticator | None = None
        self._curve = curve
        self._ipc_dir: str | None = None
        self.frontend = self.ctx.socket(zmq.ROUTER)
        self.backend = self.ctx.socket(zmq.ROUTER)
        try:
            self._open(config)
        except BaseException:
            self._close_sockets()
            raise

    def _open(self, config: HostConfig) -> None:
        self.frontend.setsockopt(zmq.LINGER, 0)
        self.frontend.setsockopt(zmq.ROUTER_MANDATORY, 0)
        limit_socket(self.frontend)
        if self._curve is not None:
            self._enable_curve(self.frontend, config.authorized_keys)
        self.frontend.bind(config.bind)
        self.endpoint: str = self.frontend.getsockopt_string(zmq.LAST_ENDPOINT)
        self.backend.setsockopt(zmq.LINGER, 0)
        limit_socket(self.backend, LINK_HWM)
        if zmq.has("ipc") and sys.platform != "win32":
            # Unix sockets shave a few tens of microseconds per hop off loopback TCP; the folder is
            # mkdtemp's (0700), so only this user's processes can reach the instances' link.
            self._ipc_dir = tempfile.mkdtemp(prefix="sf2w-")
            internal = f"ipc://{self._ipc_dir}/instances"
            self.backend.bind(internal)
        else:
            internal = f"tcp://127.0.0.1:{self.backend.bind_to_random_port('tcp://127.0.0.1')}"
        local = is_local(self.endpoint)
        direct = config.direct if config.direct is not None else (local or config.direct_port_base is not None)
        per = config.games_per_instance
        n_procs = -(-config.slots // per)
        self.direct = [self._direct_endpoint(i) for i in range(n_procs)] if direct else []
        self.procs: list[Proc] = []
        self.slots: list[Slot] = []
        for i in range(n_procs):
            games = min(per, config.slots - i * per)
            proc = Proc(Instance(i, config.backend, config.backend_options, internal, self._data_socket(i),
                                 config.spin_us, games))  # fmt: skip
            proc.slots = [Slot(i * per + g, proc, g) for g in range(games)]
            self.procs.append(proc)
            self.slots += proc.slots
        self.last_ping = 0.0
        self.by_identity = {proc.instance.identity: proc for proc in self.procs}
        self.leases: dict[str, LeaseRecord] = {}
        self.info: dict[str, Any] = {}
        self.running = False
        self.last_active = time.monotonic()
        self.poller = zmq.Poller()
        self.poller.register(self.frontend, zmq.POLLIN)
        self.poller.register(self.backend, zmq.POLLIN)

    def _direct_endpoint(self, index: int) -> str:
        """Where instance ``index`` serves its lessees directly, on the frontend's interface."""
        if self.endpoint.startswith("ipc://"):
            return f"{self.endpoint}-slot{index}"
        host = self.endpoint.removeprefix("tcp://").rsplit(":", 1)[0]
        if self.config.direct_port_base is not None:
            return f"tcp://{host}:{self.config.direct_port_base + index}"
        probe = self.ctx.socket(zmq.ROUTER)
        try:
            # The port is fixed for the host's lifetime, so a restarted instance rebinds it and clients reconnect.
            port = probe.bind_to_random_port(f"tcp://{host}")
        finally:
            probe.close(0)
        return f"tcp://{host}:{port}"

    def _data_socket(self, index: int) -> DataSocket | None:
        if not self.direct:
            return None
        c = self.config
        return DataSocket(
            self.direct[index],
            str(c.curve_secret_key) if c.curve_secret_key else None,
            str(c.authorized_keys) if c.authorized_keys else None,
        )

    def _control(self, proc: Proc, *frames: bytes) -> None:
        self.backend.send_multipart([proc.instance.identity, *frames])

    def _grant(self, slot: Slot, lease: LeaseRecord) -> None:
        # The instance finds the game by lease and lease-relative slot, which is what requests carry.
        index = lease.slots.index(slot.index)
        self._control(slot.proc, p.Control.GRANT.value, lease.id.encode(), b"%d" % slot.game, b"%d" % index)

    def _enable_curve(self, sock: zmq.Socket[bytes], authorized: Path | None = None) -> None:
        """Make ``sock`` a CurveZMQ server with the host's key (the authenticator starts with the first one)."""
        assert self._curve is not None
        if self.auth is None:
            self.auth = ThreadAuthenticator(self.ctx)
            self.auth.start()
            # HostConfig.check: no allow-list only with an explicit --allow-any-client.
            location = str(authorized) if authorized is not None else zmq.auth.CURVE_ALLOW_ANY
            self.auth.configure_curve(domain="*", location=location)
        public, secret = self._curve
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_server = True

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Spawn every instance."""
        for proc in self.procs:
            proc.instance.start()

    def close(self) -> None:
        """Stop instances and sockets."""
        for proc in self.procs:
            proc.instance.stop()
            if proc.stand_in is not None:
                proc.stand_in.close(0)
                proc.stand_in = None
        self._close_sockets()

    def _close_sockets(self) -> None:
        if self.auth is not None:
            self.auth.stop()
        self.frontend.close(0)
        self.backend.close(0)
        self.ctx.term()
        if self._ipc_dir is not None:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)

    def serve_forever(self) -> None:
        """Run the loop until SIGTERM/SIGINT, the parent's death or idle expiry."""
        self.running = True
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "running", False))
        self.start()
        try:
            self._await_instances()
            print(json.dumps({"event": "listening", "endpoint": self.endpoint, "pid": os.getpid()}), flush=True)
            while self.running:
                self.poll(50)
        finally:
            self.close()

    def poll(self, timeout_ms: int) -> None:
        """One turn of the loop: handle what arrived within ``timeout_ms``, then supervise."""
        events = dict(self.poller.poll(timeout_ms))
        if self.backend in events:
            self._drain(self.backend, self._on_instance)
        if self.frontend in events:
            self._drain(self.frontend, self._on_client)
        for proc in self.procs:
            if proc.stand_in is not None and proc.stand_in in events:
                self._drain(proc.stand_in, lambda msg, proc=proc: self._on_stand_in(proc, msg))
        self._supervise()

    def _await_instances(self) -> None:
        # Announce readiness only once every slot is up (or known broken), so HELLO describes the
        # backend's buttons and a spawning trial never races its own emulators.
        deadline = time.monotonic() + self.config.instance_timeout
        while self.running and time.monotonic() < deadline:
            if all(proc.ready or proc.failed for proc in self.procs):
                return
            if self.backend.poll(50):
                self._drain(self.backend, self._on_instance)
            self._supervise()

    @staticmethod
    def _drain(sock: zmq.Socket[bytes], handler: Any, limit: int = 256) -> None:
        for _ in range(limit):
            try:
                msg = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            handler(msg)

    # ------------------------------------------------------------- clients

    def _reply(self, client: bytes, frames: list[bytes]) -> None:
        if client:
            self.frontend.send_multipart([client, *frames])

    def _error(self, client: bytes, rid: int | None, etype: p.ErrorType, msg: str, tb: str = "") -> None:
        self._reply(client, p.error_reply(rid, etype, msg, tb))

    def _on_client(self, msg: list[bytes]) -> None:
        self.last_active = time.monotonic()
        if len(msg) < 2:
            return  # an identity with no payload cannot be answered usefully
        client, frames = msg[0], msg[1:]
        try:
            req = p.decode_request(frames)
        except p.ProtocolError as e:
            etype = p.ErrorType.VERSION_MISMATCH if "version" in str(e) else p.ErrorType.BAD_REQUEST
            self._error(client, e.request_id, etype, str(e))
            return
        try:
            self._dispatch(client, req, frames)
        except Exception as e:  # a bug here must cost one reply, not the host
            self._error(client, req.id, p.ErrorType.INTERNAL, f"{type(e).__name__}: {e}", traceback.format_exc())

    def _dispatch(self, client: bytes, req: p.Request, frames: list[bytes]) -> None:
        if isinstance(req, p.Hello):
            if req.version != p.PROTOCOL_VERSION:
                msg = f"client speaks protocol {req.version}, host speaks {p.PROTOCOL_VERSION}; upgrade the older side"
                self._error(client, req.id, p.ErrorType.VERSION_MISMATCH, msg)
                return
            self._reply(client, p.encode_reply(self.describe(req.id)))
        elif isinstance(req, p.Lease):
            self._lease(client, req)
        elif isinstance(req, (p.Release, p.Heartbeat)):
            lease = self._lease_of(client, req.id, req.lease)
            if lease is None:
                return
            if isinstance(req, p.Release):
                self._free(lease)
            self._reply(client, p.encode_reply(p.Ack(req.id)))
        elif isinstance(req, p.SLOT_REQUESTS):
            self._forward(client, req, frames)

    def describe(self, rid: int) -> p.HostInfo:
        """Host facts for HELLO (and so `emulator-worker ping`)."""
        free = sum(1 for s in self.slots if s.lease is None and not s.proc.failed)
        failures = sorted({str(proc.failed) for proc in self.procs if proc.failed})
        return p.HostInfo(
            rid, version=p.PROTOCOL_VERSION, backend=self.config.backend, slots=len(self.slots), free=free,
            games_per_instance=self.config.games_per_instance, hostname=socket.gethostname(), pid=os.getpid(),
            curve=self.config.curve_secret_key is not None, failures=tuple(failures),
            buttons=tuple(self.info.get("buttons", ())),
            backend_info={k: v for k, v in self.info.items() if k != "buttons"},
        )  # fmt: skip

    def _lease(self, client: bytes, req: p.Lease) -> None:
        free = [i for i, s in enumerate(self.slots) if s.lease is None and not s.proc.failed]
        if len(free) < req.count:
            failures = {proc.failed for proc in self.procs if proc.failed}
            detail = f"; broken slots: {'; '.join(sorted(failures))}" if failures else ""
            msg = f"asked for {req.count} slots, {len(free)} free of {len(self.slots)}{detail}"
            self._error(client, req.id, p.ErrorType.NO_CAPACITY, msg)
            return
        lease = LeaseRecord(secrets.token_hex(16), free[: req.count], req.ttl, req.owner, time.monotonic(), client)
        self.leases[lease.id] = lease
        for i in lease.slots:
            slot = self.slots[i]
            slot.lease = lease.id
            if slot.proc.ready:
                self._grant(slot, lease)
        direct: tuple[str, ...] = ()
        if self.direct:
            # "*" stands for whatever host name the client reached us by (we may be bound to 0.0.0.0).
            direct = tuple(_advertised(self.direct[self.slots[i].proc.instance.index]) for i in lease.slots)
        self._reply(client, p.encode_reply(p.LeaseGrant(req.id, lease.id, direct)))

    def _lease_of(self, client: bytes, rid: int, lease_id: str) -> LeaseRecord | None:
        lease = self.leases.get(lease_id)
        if lease is None:
            self._error(client, rid, p.ErrorType.LEASE, "unknown or expired lease; lease slots again")
            return None
        lease.last_seen = time.monotonic()
        return lease

    def _free(self, lease: LeaseRecord) -> None:
        self.leases.pop(lease.id, None)
        for i in lease.slots:
            slot = self.slots[i]
            slot.lease = None
            if slot.proc.ready:
                self._control(slot.proc, p.Control.REVOKE.value, b"%d" % slot.game)

    def _forward(self, client: bytes, req: p.SlotRequest, frames: list[bytes]) -> None:
        lease_id: str = req.lease
        lease = self._lease_of(client, req.id, lease_id)
        if lease is None:
            return
        index: int = req.slot
        if index >= len(lease.slots):
            self._error(client, req.id, p.ErrorType.BAD_REQUEST, f"slot {index} not in a {len(lease.slots)}-slot lease")
            return
        proc = self.slots[lease.slots[index]].proc
        if proc.failed:
            self._error(client, req.id, proc.fault, self._out_of_service(proc))
            return
        size = sum(len(f) for f in frames)
        waiting = len(proc.queued) if not proc.ready else len(proc.pending)
        limit = MAX_QUEUED if not proc.ready else MAX_PENDING
        if waiting >= limit or proc.waiting_bytes + size > MAX_WAITING_BYTES:
            state = "starting" if not proc.ready else "busy"
            msg = (f"instance {proc.instance.index} is {state} and already owes {waiting} replies "
                   f"({proc.waiting_bytes} bytes); wait for them before sending more")  # fmt: skip
            self._error(client, req.id, p.ErrorType.NO_CAPACITY, msg)
            return
        if not proc.ready:
            proc.queued.append((client, req.id, frames))
            proc.waiting_bytes += size
            return
        self._send_to_instance(proc, client, req.id, frames)

    def _send_to_instance(self, proc: Proc, client: bytes, rid: int, frames: list[bytes]) -> None:
        size = sum(len(f) for f in frames)
        proc.pending.append((client, rid, time.monotonic(), size))
        proc.waiting_bytes += size
        self.backend.send_multipart([proc.instance.identity, p.Control.FORWARD.value, client, *frames], copy=False)

    def _out_of_service(self, proc: Proc) -> str:
        left = max(0.0, proc.retry_at - time.monotonic())
        return f"slot out of service: {proc.failed}; the host tries its instance again in {left:.0f} s"

    # ----------------------------------------------------------- instances

    def _on_instance(self, msg: list[bytes]) -> None:
        proc = self.by_identity.get(msg[0]) if msg else None
        if proc is None or len(msg) < 2:
            return
        tag, args = msg[1], msg[2:]
        try:
            if tag == p.Control.REPLY.value:
                if len(args) >= 2:
                    if proc.pending:
                        # A process answers in the order it was asked.
                        proc.waiting_bytes -= proc.pending.popleft()[3]
                    self._reply(args[0], args[1:])
            elif tag == p.Control.PONG.value:
                proc.last_pong = time.monotonic()
            elif tag == p.Control.READY.value:
                self._on_ready(proc, args)
            elif tag == p.Control.FAILED.value:
                reason = args[0].decode(errors="replace") if args else "backend failed to start"
                self._trip(proc, reason, p.ErrorType.BACKEND)
            # Anything else is not a word of this link: ignored.
        except Exception:  # a bug here must cost one message, not the host
            traceback.print_exc()

    def _on_ready(self, proc: Proc, args: list[bytes]) -> None:
        if proc.failed:
            return  # a late READY from a process the breaker already took out of service
        proc.ready = True
        proc.probation = False
        proc.last_pong = time.monotonic()
        if args:
            try:
                info = json.loads(args[0])
            except ValueError:
                info = None
            if isinstance(info, dict):
                self.info.update(info)
        for slot in proc.slots:
            lease = self.leases.get(slot.lease or "")
            if lease is not None:
                self._grant(slot, lease)
        queued, proc.queued = proc.queued, deque()
        for client, rid, frames in queued:
            proc.waiting_bytes -= sum(len(f) for f in frames)  # counted again as pending
            self._send_to_instance(proc, client, rid, frames)

    def _fail_waiting(self, proc: Proc, etype: p.ErrorType, message: str) -> None:
        for client, rid, *_ in proc.pending:
            self._error(client, rid, etype, message)
        for client, rid, _ in proc.queued:
            self._error(client, rid, etype, message)
        proc.pending.clear()
        proc.queued.clear()
        proc.waiting_bytes = 0

    def _trip(self, proc: Proc, reason: str, fault: p.ErrorType) -> None:
        """Take ``proc``'s slots out of service for the cool-down: its requests fail at once until then."""
        proc.failed, proc.fault = reason, fault
        proc.ready = proc.probation = False
        proc.retry_at = time.monotonic() + self.config.breaker_cooldown
        proc.instance.stop()
        self._fail_waiting(proc, fault, self._out_of_service(proc))
        self._open_stand_in(proc)

    def _retry(self, proc: Proc) -> None:
        """The cool-down is over: start the instance again; one more crash before it is ready trips again."""
        self._close_stand_in(proc)
        proc.failed = ""
        proc.crashes.clear()
        proc.probation = True
        proc.instance.start()

    def _open_stand_in(self, proc: Proc) -> None:
        """Answer the failed instance's direct endpoint ourselves, so direct lessees hear at once."""
        if not self.direct or proc.stand_in is not None:
            return
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        limit_socket(sock)
        try:
            if self._curve is not None:
                self._enable_curve(sock)
            sock.bind(self.direct[proc.instance.index])
        except zmq.ZMQError:
            sock.close(0)  # the port is taken (by whatever kept the instance from binding it): no stand-in
            return
        proc.stand_in = sock
        self.poller.register(sock, zmq.POLLIN)

    def _close_stand_in(self, proc: Proc) -> None:
        sock, proc.stand_in = proc.stand_in, None
        if sock is None:
            return
        self.poller.unregister(sock)
        # Wait until the listener is really gone: the restarted instance binds the same endpoint, and
        # an ipc listener that closed late would delete the instance's socket file.
        monitor = sock.get_monitor_socket(zmq.EVENT_CLOSED)
        try:
            sock.unbind(sock.getsockopt_string(zmq.LAST_ENDPOINT))
            if monitor.poll(1000):
                monitor.recv_multipart()
        except zmq.ZMQError:
            pass
        finally:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)

    def _on_stand_in(self, proc: Proc, msg: list[bytes]) -> None:
        if len(msg) < 2 or proc.stand_in is None:
            return
        client, frames = msg[0], msg[1:]
        try:
            rid: int | None = p.decode_request(frames).id
        except p.ProtocolError as e:
            rid = e.request_id
        proc.stand_in.send_multipart([client, *p.error_reply(rid, proc.fault, self._out_of_service(proc))])

    def _supervise(self) -> None:
        now = time.monotonic()
        ping = now - self.last_ping > PING_INTERVAL_S
        if ping:
            self.last_ping = now
        for proc in self.procs:
            if proc.failed:
                if now >= proc.retry_at:
                    self._retry(proc)
                continue
            # Direct requests bypass us, so health comes from pings; forwarded ones also have deadlines.
            silent = proc.ready and now - proc.last_pong > self.config.instance_timeout
            hung = silent or bool(proc.pending and now - proc.pending[0][2] > self.config.instance_timeout)
            stuck = not proc.ready and now - proc.instance.started_at > self.config.start_timeout
            if proc.instance.proc is not None and (hung or stuck or not proc.instance.alive):
                self._restart(proc, "hung" if hung else "hung while starting" if stuck else "crashed")
            elif ping and proc.ready:
                self._control(proc, p.Control.PING.value)
        for lease in list(self.leases.values()):
            if now - lease.last_seen > lease.ttl:
                self._free(lease)
        if self.leases:
            self.last_active = now
        if self.config.parent_pid is not None and not _pid_alive(self.config.parent_pid):
            self.running = False
        if self.config.idle_exit is not None and now - self.last_active > self.config.idle_exit:
            self.running = False

    def _restart(self, proc: Proc, why: str) -> None:
        code = proc.instance.proc.returncode if proc.instance.proc else None
        message = f"emulator instance {proc.instance.index} {why} (exit code {code}); it was restarted, reset to go on"
        proc.ready = False
        for slot in proc.slots:
            lease = self.leases.get(slot.lease or "")
            if lease is not None and lease.client:
                # The lessee may be waiting on the dead instance's own socket: tell it now, not at its timeout.
                index = lease.slots.index(slot.index)  # the lessee numbers its slots 0, 1, ...
                notice = p.ErrorReply(None, p.ErrorType.INSTANCE_CRASHED, message, slot=index)
                self._reply(lease.client, p.encode_reply(notice))
        proc.crashes.append(time.monotonic())
        while proc.crashes and proc.crashes[0] < time.monotonic() - CRASH_LOOP_WINDOW:
            proc.crashes.popleft()
        if len(proc.crashes) >= CRASH_LOOP_LIMIT or proc.probation:
            reason = (
                f"instance {proc.instance.index} {why} again after its cool-down"
                if proc.probation
                else f"instance {proc.instance.index} crashed {CRASH_LOOP_LIMIT} times in {CRASH_LOOP_WINDOW:.0f} s"
            )
            self._trip(proc, reason, p.ErrorType.INSTANCE_CRASHED)
            return
        self._fail_waiting(proc, p.ErrorType.INSTANCE_CRASHED, message)
        proc.instance.restart()


def _load_curve(secret_file: Path) -> tuple[bytes, bytes]:
    """The host's (public, secret) key pair, or ValueError in one line."""
    try:
        public, secret = zmq.auth.load_certificate(str(secret_file))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read host key {secret_file}: {e}") from e
    if secret is None:
        raise ValueError(f"{secret_file} holds no secret key; pass the .key_secret file")
    if len(public) != 40 or len(secret) != 40:
        raise ValueError(f"{secret_file} does not hold a CurveZMQ key pair (Z85, 40 characters each)")
    return public, secret


def _advertised(endpoint: str) -> str:
    if endpoint.startswith("tcp://"):
        return "tcp://*:" + endpoint.rsplit(":", 1)[1]
    return endpoint


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
