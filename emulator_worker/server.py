"""The worker host: a ROUTER that leases emulator slots and routes requests to them.

Clients talk to one ROUTER (the frontend). Slots live in :class:`Instance`
child processes connected to an internal ROUTER (the backend), one game per
process by default; backends that allow it run several games per process, so a
client stepping them together wakes one process instead of several. The host only
decodes headers to check leases; payloads are forwarded as they are. Nothing a
client sends can stop the loop: every defect becomes an error reply.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
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
from emulator_worker.instances import SPIN_US, DataSocket, Instance

CRASH_LOOP_WINDOW = 10.0
CRASH_LOOP_LIMIT = 5
PING_INTERVAL_S = 1.0
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
    parent_pid: int | None = None
    idle_exit: float | None = None
    instance_timeout: float = 60.0
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


@dataclass
class Proc:
    """An instance process, its health and the requests it owes replies to."""

    instance: Instance
    slots: list[Slot] = field(default_factory=list)
    ready: bool = False
    failed: str = ""
    last_pong: float = 0.0
    pending: deque[tuple[bytes, int, float]] = field(default_factory=deque)
    queued: list[tuple[bytes, list[bytes]]] = field(default_factory=list)
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
        if config.games_per_instance < 1:
            raise ValueError(f"games_per_instance must be at least 1, got {config.games_per_instance}")
        if config.games_per_instance > 1 and not multi_game(config.backend):
            raise ValueError(f"backend {config.backend!r} runs one game per process; use games_per_instance 1")
        self.ctx = zmq.Context()
        self.frontend = self.ctx.socket(zmq.ROUTER)
        self.frontend.setsockopt(zmq.LINGER, 0)
        self.frontend.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.auth: ThreadAuthenticator | None = None
        if config.curve_secret_key is not None:
            self._enable_curve(config.curve_secret_key, config.authorized_keys)
        self.frontend.bind(config.bind)
        self.endpoint: str = self.frontend.getsockopt_string(zmq.LAST_ENDPOINT)
        self.backend = self.ctx.socket(zmq.ROUTER)
        self.backend.setsockopt(zmq.LINGER, 0)
        if zmq.has("ipc") and sys.platform != "win32":
            # Unix sockets shave a few tens of microseconds per hop off loopback TCP.
            self._ipc_dir: str | None = tempfile.mkdtemp(prefix="sf2w-")
            internal = f"ipc://{self._ipc_dir}/instances"
            self.backend.bind(internal)
        else:
            self._ipc_dir = None
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

    def _enable_curve(self, secret_file: Path, authorized: Path | None) -> None:
        public, secret = zmq.auth.load_certificate(str(secret_file))
        if secret is None:
            raise ValueError(f"{secret_file} holds no secret key; pass the .key_secret file")
        self.auth = ThreadAuthenticator(self.ctx)
        self.auth.start()
        location = str(authorized) if authorized is not None else zmq.auth.CURVE_ALLOW_ANY
        self.auth.configure_curve(domain="*", location=location)
        self.frontend.curve_secretkey = secret
        self.frontend.curve_publickey = public
        self.frontend.curve_server = True

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Spawn every instance."""
        for proc in self.procs:
            proc.instance.start()

    def close(self) -> None:
        """Stop instances and sockets."""
        for proc in self.procs:
            proc.instance.stop()
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
        poller = zmq.Poller()
        poller.register(self.frontend, zmq.POLLIN)
        poller.register(self.backend, zmq.POLLIN)
        try:
            self._await_instances()
            print(json.dumps({"event": "listening", "endpoint": self.endpoint, "pid": os.getpid()}), flush=True)
            while self.running:
                events = dict(poller.poll(50))
                if self.backend in events:
                    self._drain(self.backend, self._on_instance)
                if self.frontend in events:
                    self._drain(self.frontend, self._on_client)
                self._supervise()
        finally:
            self.close()

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
        if not proc.ready:
            proc.queued.append((client, frames))
            return
        self._send_to_instance(proc, client, req.id, frames)

    def _send_to_instance(self, proc: Proc, client: bytes, rid: int, frames: list[bytes]) -> None:
        proc.pending.append((client, rid, time.monotonic()))
        self.backend.send_multipart([proc.instance.identity, client, *frames], copy=False)

    # ----------------------------------------------------------- instances

    def _on_instance(self, msg: list[bytes]) -> None:
        proc = self.by_identity.get(msg[0])
        if proc is None or len(msg) < 2:
            return
        if msg[1] == p.Control.PONG.value:
            proc.last_pong = time.monotonic()
            return
        if msg[1] == p.Control.READY.value:
            proc.ready = True
            proc.last_pong = time.monotonic()
            if len(msg) > 2:
                self.info.update(json.loads(msg[2]))
            for slot in proc.slots:
                lease = self.leases.get(slot.lease or "")
                if lease is not None:
                    self._grant(slot, lease)
            for client, frames in proc.queued:
                req_id = p.decode_request(frames).id
                self._send_to_instance(proc, client, req_id, frames)
            proc.queued.clear()
            return
        if msg[1] == p.Control.FAILED.value:
            proc.failed = msg[2].decode(errors="replace") if len(msg) > 2 else "backend failed to start"
            self._fail_waiting(proc, p.ErrorType.BACKEND, proc.failed)
            return
        if proc.pending:
            proc.pending.popleft()  # a process answers in the order it was asked
        self._reply(msg[1], msg[2:])

    def _fail_waiting(self, proc: Proc, etype: p.ErrorType, message: str) -> None:
        for client, rid, _ in proc.pending:
            self._error(client, rid, etype, message)
        for client, frames in proc.queued:
            self._error(client, p.decode_request(frames).id, etype, message)
        proc.pending.clear()
        proc.queued.clear()

    def _supervise(self) -> None:
        now = time.monotonic()
        ping = now - self.last_ping > PING_INTERVAL_S
        if ping:
            self.last_ping = now
        for proc in self.procs:
            if proc.failed:
                continue
            # Direct requests bypass us, so health comes from pings; forwarded ones also have deadlines.
            silent = proc.ready and now - proc.last_pong > self.config.instance_timeout
            hung = silent or bool(proc.pending and now - proc.pending[0][2] > self.config.instance_timeout)
            if proc.instance.proc is not None and (hung or not proc.instance.alive):
                self._restart(proc, "hung" if hung else "crashed")
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
        self._fail_waiting(proc, p.ErrorType.INSTANCE_CRASHED, message)
        if len(proc.crashes) >= CRASH_LOOP_LIMIT:
            proc.failed = (
                f"instance {proc.instance.index} crashed {CRASH_LOOP_LIMIT} times in {CRASH_LOOP_WINDOW:.0f} s"
            )
            proc.instance.stop()
            return
        proc.instance.restart()


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
