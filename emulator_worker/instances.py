"""Emulator instances: one OS process each, spawned, health-checked and restarted.

stable-retro allows one emulator per process and BizHawk is a process of its
own, so every slot of a host is a game in a child process: one per process, or
several for backends that allow it (the simulator), routed by lease and slot. The child keeps a control link
(a DEALER to the host's internal ROUTER: readiness, lease grants, health pings,
forwarded requests) and binds its own data socket, which clients holding its lease
talk to directly: one hop instead of two on every step.

Every message on the control link starts with a :class:`~emulator_worker.protocol.Control`
word; forwarded requests and their replies travel in FORWARD/REPLY envelopes, so a client's
routing id (which the client chooses) is never read as a word of that link.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from emulator_worker import protocol as p
from emulator_worker.backends import Backend, ResetOptions, create_backend

GRANT_WAIT_S = 0.5
"""How long a direct request whose lease this instance does not know waits for the host's grant."""
MAX_PARKED = 64
"""Direct requests waiting for a grant at once; more are refused at once."""
SPIN_US = 200
"""Default time an instance polls for its lessee's next request after a reply, before sleeping."""
CLIENT_HWM = 256
"""High-water mark (messages per peer) of the sockets clients reach: a lessee has at most one request
in flight per slot (64 at most) plus heartbeats."""
LINK_HWM = 1024
"""High-water mark of the host's link to its instances: above the host's bound on forwarded requests
per instance, so the link never drops one."""
BIND_RETRY_S = 5.0
"""How long an instance retries binding its data socket while the port is still held (e.g. by the
host's stand-in for a broken slot, which it closes just before restarting the instance)."""


def limit_socket(sock: zmq.Socket[bytes], hwm: int = CLIENT_HWM) -> None:
    """Bound what a peer can queue on or push into ``sock``: high-water marks and a maximum frame size."""
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.MAXMSGSIZE, p.MAX_MESSAGE_BYTES)


def set_parent_death_signal() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (no-op elsewhere)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _ram_bytes(ram: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> bytes:
    size = ram.shape[0]
    for addr, n in ranges:
        if addr + n > size:
            raise ValueError(f"RAM range 0x{addr:X}+{n} exceeds the {size}-byte RAM")
    return b"".join(ram[a : a + n].tobytes() for a, n in ranges)


class Executor:
    """Runs decoded slot requests against one backend; the child's whole job.

    With ``check_lease`` it also enforces the host's grants: only the current
    lease may use the emulator, and a step needs a reset since the grant or start.
    """

    def __init__(self, backend: Backend, check_lease: bool = False) -> None:
        self.backend = backend
        self.frames_run = 0
        self.check_lease = check_lease
        self.lease: str | None = None
        self.needs_reset = True
        self._handlers: dict[p.Command, Callable[[Any], p.TypedReply]] = {
            p.Command.RESET: self._reset,
            p.Command.STEP: self._step,
            p.Command.FRAME: lambda r: p.FrameReply(r.id, self.backend.frame()),
            p.Command.SAVE_STATE: lambda r: p.StateReply(r.id, self.backend.save_state()),
            p.Command.LOAD_STATE: self._load,
        }

    def _observation(self, req: p.Reset | p.Step) -> p.ObservationReply:
        ram = _ram_bytes(self.backend.ram(), req.ram_ranges)
        frame = self.backend.frame() if req.want_frame else None
        return p.ObservationReply(req.id, ram, self.frames_run, frame)

    def _reset(self, req: p.Reset) -> p.ObservationReply:
        opts = ResetOptions(req.seed, req.characters, req.difficulty, req.two_player, req.state)
        self.backend.reset(opts)
        return self._observation(req)

    def _step(self, req: p.Step) -> p.ObservationReply:
        for seg in req.segments:
            if seg.frames:
                self.backend.step(seg.p1, seg.p2, seg.frames)
                self.frames_run += seg.frames
        return self._observation(req)

    def _load(self, req: p.LoadState) -> p.Ack:
        self.backend.load_state(req.data)
        return p.Ack(req.id)

    def grant(self, lease: str) -> None:
        """A new lease owns this emulator; it must reset before stepping."""
        self.lease = lease
        self.needs_reset = True

    def revoke(self) -> None:
        """The lease ended: forget its match so the next lessee cannot observe it."""
        self.lease = None
        self.needs_reset = True
        self.backend.reset(ResetOptions())

    @staticmethod
    def decode(frames: list[bytes]) -> p.Request | None:
        """The request, or None when it does not decode (then :meth:`handle` explains why)."""
        try:
            return p.decode_request(frames)
        except p.ProtocolError:
            return None

    def handle(self, frames: list[bytes], req: p.Request | None = None) -> list[bytes]:
        """Decode (unless already decoded), execute and encode; every failure becomes an error reply."""
        req_id: int | None = None
        try:
            if req is None:
                req = p.decode_request(frames)
            req_id = req.id
            handler = self._handlers.get(req.COMMAND)
            if handler is None:
                raise p.ProtocolError(f"{req.COMMAND.value} is not an instance command", req_id)
            if self.check_lease:
                if getattr(req, "lease", None) != self.lease or self.lease is None:
                    return p.error_reply(req_id, p.ErrorType.LEASE, "unknown or expired lease; lease slots again")
                if req.COMMAND is p.Command.STEP and self.needs_reset:
                    msg = "instance was (re)started or leased since the last reset; reset it before stepping"
                    return p.error_reply(req_id, p.ErrorType.INSTANCE_CRASHED, msg)
            reply = p.encode_reply(handler(req))
            if req.COMMAND is p.Command.RESET:
                self.needs_reset = False
            return reply
        except p.ProtocolError as e:
            return p.error_reply(e.request_id, p.ErrorType.BAD_REQUEST, str(e))
        except ValueError as e:
            return p.error_reply(req_id, p.ErrorType.BAD_REQUEST, str(e), traceback.format_exc())
        except Exception as e:
            return p.error_reply(req_id, p.ErrorType.BACKEND, f"{type(e).__name__}: {e}", traceback.format_exc())


class Games:
    """The executors of one instance process, found by the lease and lease-relative slot a request names.

    The host grants each game to a lease as ``(lease, slot)``, the pair the lessee's requests carry,
    so one process can serve several lessees (or several slots of one lease) without a host hop.
    """

    def __init__(self, executors: list[Executor]) -> None:
        self.executors = executors
        self.routes: dict[tuple[str, int], int] = {}

    def _unroute(self, game: int) -> None:
        self.routes = {k: g for k, g in self.routes.items() if g != game}

    def grant(self, lease: str, game: int, slot: int) -> None:
        """Game ``game`` now answers to ``lease``'s slot ``slot``; it must reset before stepping."""
        if not 0 <= game < len(self.executors):
            raise ValueError(f"no game {game} in this instance")
        self._unroute(game)
        self.executors[game].grant(lease)
        self.routes[(lease, slot)] = game

    def revoke(self, game: int) -> None:
        """Game ``game``'s lease ended."""
        if not 0 <= game < len(self.executors):
            raise ValueError(f"no game {game} in this instance")
        self._unroute(game)
        self.executors[game].revoke()

    def find(self, req: p.Request) -> Executor | None:
        """The executor a decoded request is for, if its lease holds one here."""
        game = self.routes.get((getattr(req, "lease", ""), getattr(req, "slot", 0)))
        return None if game is None else self.executors[game]

    def admits(self, req: p.Request | None) -> bool:
        """Whether a decoded request names a granted game (undecodable ones are answered anyway)."""
        return req is None or self.find(req) is not None

    def handle(self, frames: list[bytes], req: p.Request | None) -> list[bytes]:
        """The reply frames: from the request's game, or an error reply."""
        if req is None:
            return self.executors[0].handle(frames)  # it re-decodes and explains why that fails
        executor = self.find(req)
        if executor is None:
            return p.error_reply(req.id, p.ErrorType.LEASE, "unknown or expired lease; lease slots again")
        return executor.handle(frames, req)

    def close(self) -> None:
        """Close every game's backend."""
        for executor in self.executors:
            executor.backend.close()


@dataclass(frozen=True)
class DataSocket:
    """Where an instance serves clients directly, and how it is locked."""

    bind: str
    curve_secret_key: str | None = None
    authorized_keys: str | None = None


def _data_socket(ctx: zmq.Context[Any], spec: DataSocket) -> zmq.Socket[bytes]:
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    limit_socket(sock)
    if spec.curve_secret_key:
        public, secret = zmq.auth.load_certificate(spec.curve_secret_key)
        auth = ThreadAuthenticator(ctx)
        auth.start()
        # The host only starts with an allow-list or an explicit --allow-any-client.
        auth.configure_curve(domain="*", location=spec.authorized_keys or zmq.auth.CURVE_ALLOW_ANY)
        sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
    deadline = time.monotonic() + BIND_RETRY_S
    while True:
        try:
            sock.bind(spec.bind)
            return sock
        except zmq.ZMQError as e:
            if e.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _spin(sockets: tuple[zmq.Socket[bytes], ...], seconds: float) -> bool:
    """Whether a socket became readable within ``seconds`` (polling, never sleeping)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for sock in sockets:
            if int(sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                return True
        os.sched_yield()  # keeps the core free for anything runnable
    return False


class Spinner:
    """Polls for the lessee's next request after each reply, while that pays off.

    A client in a tight loop steps again within microseconds, but waking a sleeping
    process costs tens of microseconds on virtual machines; polling briefly skips
    that wake-up. A client that thinks longer (a policy network between steps)
    would only make us burn CPU, so polling stops after a run of misses and
    resumes once a request again arrives within the polling window.
    """

    MISSES_TO_STOP = 8

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = seconds > 0
        self.misses = 0
        self.replied_at = 0.0

    def received(self) -> None:
        """A request arrived: if it came soon enough that polling would have caught it, poll again."""
        if not self.active and self.seconds > 0 and time.perf_counter() - self.replied_at < self.seconds:
            self.active, self.misses = True, 0

    def replied(self, sockets: tuple[zmq.Socket[bytes], ...]) -> None:
        """A reply went out: poll for the next request, or note that polling stopped paying."""
        if self.active:
            if _spin(sockets, self.seconds):
                self.misses = 0
            else:
                self.misses += 1
                self.active = self.misses < self.MISSES_TO_STOP
        self.replied_at = time.perf_counter()


class Link:
    """What an instance does with each message it receives, on its control link and its data socket.

    Control messages come from the host only and start with a :class:`p.Control` word; anything
    else on that link is not a message of the link and is ignored. A client's request arrives in
    a FORWARD envelope and its reply leaves in a REPLY one, the client's routing id only ever an
    address. Nothing a message holds can raise out of here: a bad control message is dropped.

    A direct request for a lease this instance has not been granted yet is parked (the host grants
    before it answers the lease, but the grant may still be in flight) and answered when the grant
    comes or after :data:`GRANT_WAIT_S`, so such requests never stall the other games' lessees.
    """

    def __init__(self, games: Games, control: zmq.Socket[bytes], direct: zmq.Socket[bytes] | None = None,
                 spinner: Spinner | None = None) -> None:  # fmt: skip
        self.games = games
        self.control = control
        self.direct = direct
        self.spinner = spinner or Spinner(0.0)
        self.sockets = (control,) if direct is None else (direct, control)
        self.parked: deque[tuple[float, bytes, list[bytes], p.Request]] = deque()

    def on_control(self, msg: list[bytes]) -> None:
        """Act on one message from the host."""
        if not msg:
            return
        tag, args = msg[0], msg[1:]
        try:
            if tag == p.Control.FORWARD.value and len(args) >= 2:
                self.spinner.received()
                client, frames = args[0], args[1:]
                reply = self.games.handle(frames, Executor.decode(frames))
                self.control.send_multipart([p.Control.REPLY.value, client, *reply], copy=False)
                self.spinner.replied(self.sockets)
            elif tag == p.Control.GRANT.value and len(args) == 3:
                self.games.grant(args[0].decode(), int(args[1]), int(args[2]))
                self.unpark()
            elif tag == p.Control.REVOKE.value and len(args) == 1:
                self.games.revoke(int(args[0]))
            elif tag == p.Control.PING.value:
                self.control.send(p.Control.PONG.value)
        except (ValueError, UnicodeDecodeError) as e:
            print(f"instance: dropped a malformed control message: {e}", file=sys.stderr, flush=True)

    def on_direct(self, msg: list[bytes]) -> None:
        """Answer one request a lessee sent to the data socket (or park it until its grant)."""
        if self.direct is None or len(msg) < 2:
            return  # a routing id with nothing after it cannot be answered
        client, frames = msg[0], msg[1:]
        self.spinner.received()
        req = Executor.decode(frames)
        if req is not None and not self.games.admits(req) and len(self.parked) < MAX_PARKED:
            self.parked.append((time.monotonic() + GRANT_WAIT_S, client, frames, req))
            return
        self.direct.send_multipart([client, *self.games.handle(frames, req)], copy=False)
        self.spinner.replied(self.sockets)

    def unpark(self, now: float | None = None) -> None:
        """Answer the parked requests whose grant came, and those that waited long enough (then refused)."""
        if not self.parked or self.direct is None:
            return
        now = time.monotonic() if now is None else now
        still: deque[tuple[float, bytes, list[bytes], p.Request]] = deque()
        for entry in self.parked:
            deadline, client, frames, req = entry
            if self.games.admits(req) or now >= deadline:
                self.direct.send_multipart([client, *self.games.handle(frames, req)], copy=False)
            else:
                still.append(entry)
        self.parked = still

    def timeout_ms(self) -> int | None:
        """How long the main loop may sleep: until the first parked request's deadline, or for ever."""
        if not self.parked:
            return None
        return max(0, int((self.parked[0][0] - time.monotonic()) * 1000) + 1)


def serve_instance(backend: str, options: dict[str, Any], endpoint: str, identity: bytes,
                   data: DataSocket | None = None, spin_us: int = SPIN_US, games: int = 1) -> None:  # fmt: skip
    """Child main loop: build the backends, announce READY, serve the host and direct clients."""
    ctx: zmq.Context[Any] = zmq.Context.instance()
    control = ctx.socket(zmq.DEALER)
    control.setsockopt(zmq.IDENTITY, identity)
    control.setsockopt(zmq.LINGER, 1000)
    limit_socket(control, LINK_HWM)
    control.connect(endpoint)
    try:
        executors = Games([Executor(create_backend(backend, **options), check_lease=True) for _ in range(games)])
        direct = _data_socket(ctx, data) if data is not None else None
    except Exception as e:
        # The host reports this to clients instead of restarting us in a tight loop.
        control.send_multipart([p.Control.FAILED.value, f"{type(e).__name__}: {e}".encode()])
        control.close()
        raise SystemExit(3) from e
    buttons = list(executors.executors[0].backend.buttons)
    control.send_multipart([p.Control.READY.value, json.dumps({"buttons": buttons}).encode()])
    poller = zmq.Poller()
    poller.register(control, zmq.POLLIN)
    if direct is not None:
        poller.register(direct, zmq.POLLIN)
    link = Link(executors, control, direct, Spinner(spin_us * 1e-6))
    try:
        while True:
            events = dict(poller.poll(link.timeout_ms()))
            if control in events:
                link.on_control(control.recv_multipart())
            if direct is not None and direct in events:
                link.on_direct(direct.recv_multipart())
            link.unpark()
    finally:
        # Emulators with processes of their own (EmuHawk) must not outlive us.
        executors.close()


class Instance:
    """A supervised child process running ``games`` emulators."""

    def __init__(self, index: int, backend: str, options: dict[str, Any], endpoint: str,
                 data: DataSocket | None = None, spin_us: int = SPIN_US, games: int = 1) -> None:  # fmt: skip
        self.index = index
        self.games = games
        self.data = data
        self.spin_us = spin_us
        self.identity = f"slot-{index}".encode()
        self.backend = backend
        self.options = options
        self.endpoint = endpoint
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        """When the running child was started (monotonic), to tell one stuck while starting."""

    def start(self) -> None:
        """Launch the child process."""
        cmd = [
            sys.executable,
            "-m",
            "emulator_worker.instances",
            "--backend",
            self.backend,
            "--options",
            json.dumps(self.options),
            "--endpoint",
            self.endpoint,
            "--identity",
            self.identity.decode(),
            "--spin-us",
            str(self.spin_us),
            "--games",
            str(self.games),
        ]
        if self.data is not None:
            cmd += ["--data-bind", self.data.bind]
            if self.data.curve_secret_key:
                cmd += ["--curve-secret-key", self.data.curve_secret_key]
            if self.data.authorized_keys:
                cmd += ["--authorized-keys", self.data.authorized_keys]
        kwargs: dict[str, Any] = {}
        if sys.platform == "linux":
            kwargs["preexec_fn"] = set_parent_death_signal
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **kwargs)
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        """Whether the child process is running."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self.proc.pid if self.proc else None

    def restart(self) -> None:
        """Kill (if needed) and start again."""
        self.stop()
        self.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child, killing it if it does not exit in time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(0)  # unwinds serve_instance, which closes the backend


def main(argv: list[str] | None = None) -> None:
    """Entry point of an instance child process."""
    ap = argparse.ArgumentParser(description="one emulator instance (started by emulator-worker serve)")
    ap.add_argument("--backend", required=True)
    ap.add_argument("--options", default="{}")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--identity", required=True)
    ap.add_argument("--data-bind", help="endpoint for direct client requests")
    ap.add_argument("--curve-secret-key")
    ap.add_argument("--authorized-keys")
    ap.add_argument("--spin-us", type=int, default=SPIN_US, help="poll this long for the next request before sleeping")
    ap.add_argument("--games", type=int, default=1, help="emulators this process runs")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    data = DataSocket(args.data_bind, args.curve_secret_key, args.authorized_keys) if args.data_bind else None
    serve_instance(args.backend, json.loads(args.options), args.endpoint, args.identity.encode(), data,
                   args.spin_us, args.games)  # fmt: skip


if __name__ == "__main__":
    main()
