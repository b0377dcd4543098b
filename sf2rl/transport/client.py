"""ZeroMQ client of an emulator worker host: timeouts, retries, reconnect, heartbeats.

This is the one place where transport failures and host error replies become
:mod:`sf2rl.core.errors` types.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import zmq
import zmq.auth

from emulator_worker import protocol as p
from sf2rl.core import errors
from sf2rl.transport.faults import error_for

log = logging.getLogger(__name__)
T = TypeVar("T")
NOTICE_CHECK_MS = 50
"""How often a request waiting on an instance's own socket checks the host for a crash notice."""

# Re-sending these after a lost reply cannot change emulator state twice.
IDEMPOTENT = frozenset({p.Command.HELLO, p.Command.HEARTBEAT, p.Command.FRAME, p.Command.SAVE_STATE, p.Command.RESET})


@dataclass(frozen=True)
class CurveKeys:
    """CurveZMQ keys for a client: the host's public key and the client's pair."""

    server_public: bytes
    public: bytes
    secret: bytes

    @classmethod
    def from_files(cls, server_public: str | Path, client_secret: str | Path) -> CurveKeys:
        """Load keys written by `emulator-worker keygen`."""
        server_key, _ = zmq.auth.load_certificate(str(server_public))
        public, secret = zmq.auth.load_certificate(str(client_secret))
        if secret is None:
            raise errors.ConfigError(f"{client_secret} holds no secret key; pass the .key_secret file")
        return cls(server_key, public, secret)


@dataclass(frozen=True)
class Pending:
    """A request on the wire: where its reply will come from."""

    request: p.Request
    sock: zmq.Socket[bytes]
    direct: bool
    sent_at: float


def _socket(ctx: zmq.Context[Any], endpoint: str, curve: CurveKeys | None) -> zmq.Socket[bytes]:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve is not None:
        sock.curve_serverkey = curve.server_public
        sock.curve_publickey = curve.public
        sock.curve_secretkey = curve.secret
    sock.connect(endpoint)
    return sock


class EmulatorClient:
    """Request/reply over a DEALER socket, with the Lazy Pirate pattern for recovery."""

    def __init__(
        self,
        endpoint: str,
        *,
        timeout_ms: int = 15000,
        retries: int = 2,
        curve: CurveKeys | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.curve = curve
        self._ctx: zmq.Context[Any] = zmq.Context.instance()
        self._sock = _socket(self._ctx, endpoint, curve)
        self._ids = itertools.count(1)
        self.lease_id: str | None = None
        self._direct_endpoints: list[str] = []
        self._direct: dict[int, zmq.Socket[bytes]] = {}
        self._heartbeat: _Heartbeat | None = None
        self.last_rtt_ms = 0.0
        # Several requests may be in flight (one per slot); replies and crash notices that arrive
        # while another one is awaited are kept for their own request or slot.
        self._in_flight: dict[int, int | None] = {}  # request id -> slot
        self._early: dict[int, p.Reply | p.ErrorReply] = {}
        self._notices: dict[int, tuple[float, p.ErrorReply]] = {}  # slot -> (when read, crash notice)

    # ------------------------------------------------------------ transport

    def _reconnect(self) -> None:
        self._sock.close(0)
        self._sock = _socket(self._ctx, self.endpoint, self.curve)

    def _slot_socket(self, slot: int) -> zmq.Socket[bytes]:
        sock = self._direct.get(slot)
        if sock is None:
            host = self.endpoint.removeprefix("tcp://").rsplit(":", 1)[0]
            endpoint = self._direct_endpoints[slot].replace("tcp://*:", f"tcp://{host}:")
            sock = self._direct[slot] = _socket(self._ctx, endpoint, self.curve)
        return sock

    def _drop_direct(self, slot: int | None = None) -> None:
        for key in [slot] if slot is not None else list(self._direct):
            sock = self._direct.pop(key, None)
            if sock is not None:
                sock.close(0)

    def call(self, req: p.Request) -> p.TypedReply:
        """Send one request and return its reply, raising a typed error on failure."""
        attempts = 1 + (self.retries if req.COMMAND in IDEMPOTENT else 0)
        for attempt in range(attempts):
            pending = self.send(req)
            reply = self._await(pending)
            if reply is not None:
                return self._accept(pending, reply)
            self._recover(pending)
            if attempt + 1 < attempts:
                time.sleep(min(0.1 * 2**attempt, 1.0))
        raise self._unavailable(req, attempts)

    def send(self, req: p.Request) -> Pending:
        """Send a request without waiting; :meth:`receive` collects its reply (once, no retries).

        Lets one thread keep several emulators busy at once (see :mod:`sf2rl.env.vector`).
        """
        slot: int | None = getattr(req, "slot", None)
        direct = slot is not None and slot < len(self._direct_endpoints)
        sock = self._slot_socket(slot) if direct and slot is not None else self._sock
        pending = Pending(req, sock, direct, time.perf_counter())
        sock.send_multipart(p.encode_request(req), copy=False)
        self._in_flight[req.id] = slot
        return pending

    def receive(self, pending: Pending) -> p.TypedReply:
        """The reply to a request from :meth:`send`, or its typed error."""
        reply = self._await(pending)
        if reply is None:
            self._recover(pending)
            raise self._unavailable(pending.request, 1)
        return self._accept(pending, reply)

    def _accept(self, pending: Pending, reply: p.Reply | p.ErrorReply) -> p.TypedReply:
        self.last_rtt_ms = (time.perf_counter() - pending.sent_at) * 1000
        self._in_flight.pop(pending.request.id, None)
        if isinstance(reply, p.ErrorReply):
            if pending.direct and reply.type is p.ErrorType.INSTANCE_CRASHED:
                # Never let a queued request reach the restarted instance.
                self._drop_direct(getattr(pending.request, "slot", None))
            raise error_for(reply)
        try:
            return p.parse_reply(pending.request.COMMAND, reply)
        except p.ProtocolError as e:
            raise errors.TransportError(f"malformed reply from {self.endpoint}: {e}") from e

    def _recover(self, pending: Pending) -> None:
        """After a request went unanswered: the socket may hold a half-sent request or a stale reply."""
        self._in_flight.pop(pending.request.id, None)
        if pending.direct:
            # A silent instance port is most often a firewall or port mapping that only opens the
            # host's port: from now on route through the host, which also detects hung instances.
            log.warning("no reply from %s's direct instance socket; routing through the host", self.endpoint)
            self._drop_direct()
            self._direct_endpoints = []
        else:
            self._reconnect()

    def _unavailable(self, req: p.Request, attempts: int) -> errors.WorkerUnavailableError:
        return errors.WorkerUnavailableError(
            f"no reply from worker host {self.endpoint} to {req.COMMAND.value} within {self.timeout_ms} ms "
            f"({attempts} attempt(s)); is `emulator-worker serve` running there, and are the CurveZMQ keys right?"
        )

    def _await(self, pending: Pending) -> p.Reply | p.ErrorReply | None:
        """The reply to ``pending``; while waiting on an instance, also heed the host's crash notices."""
        rid = pending.request.id
        slot: int | None = getattr(pending.request, "slot", None)
        noted = self._notices.pop(slot, None) if slot is not None else None
        if (early := self._early.pop(rid, None)) is not None:
            return early  # the reply got out before the instance died
        if noted is not None and noted[0] > pending.sent_at:
            return noted[1]  # the instance died with this request in flight
        deadline = time.monotonic() + self.timeout_ms / 1000
        # Waiting on one socket is a cheaper wake-up than polling two; the host is checked between slices.
        slice_ms = NOTICE_CHECK_MS if pending.direct else self.timeout_ms
        while (left := deadline - time.monotonic()) > 0:
            if pending.sock.poll(min(slice_ms, int(left * 1000) + 1)):
                if (reply := self._route(self._read(pending.sock), rid, slot, notices_only=False)) is not None:
                    return reply
                continue
            while pending.direct and self._sock.poll(0):
                if (reply := self._route(self._read(self._sock), rid, slot, notices_only=True)) is not None:
                    return reply
        return None

    def _route(
        self, reply: p.Reply | p.ErrorReply, rid: int, slot: int | None, notices_only: bool
    ) -> p.Reply | p.ErrorReply | None:
        """``reply`` if it answers ``rid``; otherwise keep it for whoever it belongs to (or drop it if stale)."""
        if isinstance(reply, p.ErrorReply) and reply.id is None:
            if reply.type is p.ErrorType.INSTANCE_CRASHED and reply.slot is not None and reply.slot != slot:
                if reply.slot in self._in_flight.values():
                    # Another of our slots died with a request in flight: keep the news for its waiter.
                    self._notices[reply.slot] = (time.perf_counter(), reply)
                return None  # with nothing in flight there, the restarted instance itself asks for a reset
            if reply.type is p.ErrorType.INSTANCE_CRASHED or not notices_only:
                return reply  # our instance died under this request, or the host could not even read our id
            return None
        if reply.id == rid and not notices_only:
            return reply
        if reply.id in self._in_flight:
            self._early[reply.id] = reply  # answers another request of ours that is still in flight
        return None  # else a stale reply to an abandoned request

    def _read(self, sock: zmq.Socket[bytes]) -> p.Reply | p.ErrorReply:
        try:
            return p.decode_reply(sock.recv_multipart(copy=True))
        except p.ProtocolError as e:
            raise errors.TransportError(f"malformed reply from {self.endpoint}: {e}") from e

    def _next_id(self) -> int:
        return next(self._ids)

    # ------------------------------------------------------------- commands

    def hello(self) -> p.HostInfo:
        """Handshake; returns the host description (backend, slots, buttons...)."""
        return self._expect(self.call(p.Hello(id=self._next_id())), p.HostInfo)

    def lease(self, count: int = 1, ttl: float = 30.0, owner: str = "") -> str:
        """Lease slots and keep them alive with a background heartbeat."""
        grant = self._expect(self.call(p.Lease(id=self._next_id(), count=count, ttl=ttl, owner=owner)), p.LeaseGrant)
        self.lease_id = grant.lease
        self._drop_direct()
        self._direct_endpoints = list(grant.direct)
        self._heartbeat = _Heartbeat(self, self.lease_id, ttl)
        self._heartbeat.start()
        return self.lease_id

    def release(self) -> None:
        """Return the leased slots (best effort: the host also expires them)."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        self._drop_direct()
        self._direct_endpoints = []
        # Whatever was in flight on those slots will never be collected.
        self._in_flight.clear()
        self._early.clear()
        self._notices.clear()
        if self.lease_id is not None:
            lease, self.lease_id = self.lease_id, None
            try:
                self.call(p.Release(id=self._next_id(), lease=lease))
            except errors.WorkerError:
                pass  # the host is gone or already expired the lease

    @property
    def lease_problem(self) -> str | None:
        """Why the background heartbeat thinks the lease is gone, if it does."""
        return self._heartbeat.lost if self._heartbeat is not None else None

    def _lease(self) -> str:
        if self.lease_id is None:
            raise errors.LeaseLostError("no lease held; call lease() first")
        if (problem := self.lease_problem) is not None:
            raise errors.LeaseLostError(problem)
        return self.lease_id

    def reset(
        self,
        slot: int = 0,
        *,
        ram_ranges: tuple[tuple[int, int], ...] = (),
        want_frame: bool = False,
        seed: int = 0,
        characters: tuple[int, int] = (0, 1),
        difficulty: int = 3,
        two_player: bool = False,
        state: str = "",
    ) -> p.ObservationReply:
        """Start a new match on a leased slot."""
        req = p.Reset(
            id=self._next_id(),
            lease=self._lease(),
            slot=slot,
            seed=seed,
            characters=characters,
            difficulty=difficulty,
            two_player=two_player,
            state=state,
            ram_ranges=ram_ranges,
            want_frame=want_frame,
        )
        return self._expect(self.call(req), p.ObservationReply)

    def step(
        self,
        slot: int,
        segments: tuple[p.Segment, ...],
        *,
        ram_ranges: tuple[tuple[int, int], ...] = (),
        want_frame: bool = False,
    ) -> p.ObservationReply:
        """Run input segments on a leased slot."""
        return self.step_wait(self.step_async(slot, segments, ram_ranges=ram_ranges, want_frame=want_frame))

    def step_async(
        self,
        slot: int,
        segments: tuple[p.Segment, ...],
        *,
        ram_ranges: tuple[tuple[int, int], ...] = (),
        want_frame: bool = False,
    ) -> Pending:
        """Start a step and return at once; :meth:`step_wait` collects it."""
        return self.send(p.Step(self._next_id(), self._lease(), slot, segments, ram_ranges, want_frame))

    def step_wait(self, pending: Pending) -> p.ObservationReply:
        """The observation of a step from :meth:`step_async`."""
        return self._expect(self.receive(pending), p.ObservationReply)

    def frame(self, slot: int = 0) -> np.ndarray:
        """The slot's current RGB frame."""
        return self._expect(self.call(p.Frame(id=self._next_id(), lease=self._lease(), slot=slot)), p.FrameReply).frame

    def save_state(self, slot: int = 0) -> bytes:
        """The slot's savestate bytes."""
        return self._expect(
            self.call(p.SaveState(id=self._next_id(), lease=self._lease(), slot=slot)), p.StateReply
        ).data

    def load_state(self, slot: int, data: bytes) -> None:
        """Restore a savestate on the slot."""
        self.call(p.LoadState(id=self._next_id(), lease=self._lease(), slot=slot, data=data))

    @staticmethod
    def _expect(reply: p.TypedReply, kind: type[T]) -> T:
        # parse_reply already typed the reply by its command; this only narrows the type for callers.
        assert isinstance(reply, kind), f"{type(reply).__name__} is not {kind.__name__}"
        return reply

    def close(self) -> None:
        """Release the lease and close the socket."""
        self.release()
        self._sock.close(0)

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Heartbeat(threading.Thread):
    """Keeps a lease alive from its own socket while the owner is busy (e.g. learning).

    The host keeps a lease for ``ttl`` after its last renewal. Renewing every ttl/4, with ttl/4 for
    each answer and an immediate retry after a silent one, lets the lease outlive two lost
    heartbeats in a row. When the host says the lease is gone, or nothing got through for a whole
    ttl, :attr:`lost` says why and the owner's next request raises it as a ``LeaseLostError``.
    """

    def __init__(self, owner: EmulatorClient, lease: str, ttl: float) -> None:
        super().__init__(daemon=True, name=f"sf2rl-heartbeat-{lease[:6]}")
        self.interval = max(ttl / 4, 0.05)
        timeout_ms = min(owner.timeout_ms, max(int(self.interval * 1000), 50))
        self.client = EmulatorClient(owner.endpoint, timeout_ms=timeout_ms, retries=0, curve=owner.curve)
        self.lease = lease
        self.ttl = ttl
        self.lost: str | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        renewed, wait = time.monotonic(), self.interval
        try:
            while not self._stop_event.wait(wait):
                try:
                    self.client.call(p.Heartbeat(id=self.client._next_id(), lease=self.lease))
                    renewed, wait = time.monotonic(), self.interval
                except errors.LeaseLostError as e:
                    self._give_up(f"worker host {self.client.endpoint} dropped lease {self.lease[:8]}: {e}")
                    return
                except errors.WorkerError as e:
                    silent = time.monotonic() - renewed
                    if silent >= self.ttl:
                        self._give_up(
                            f"no heartbeat reached worker host {self.client.endpoint} for {silent:.1f} s "
                            f"(lease ttl {self.ttl:g} s), so lease {self.lease[:8]} has expired there: {e}"
                        )
                        return
                    log.warning(
                        "heartbeat to %s failed after %.1f s without renewal; retrying: %s",
                        self.client.endpoint,
                        silent,
                        e,
                    )
                    # A silent host already cost us a timeout; an error reply came at once, so pace it.
                    wait = 0.0 if isinstance(e, errors.WorkerUnavailableError) else self.interval
        finally:
            self.client._sock.close(0)

    def _give_up(self, why: str) -> None:
        self.lost = why
        log.warning("%s; the owner's next request raises it", why)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)
