"""A console: one emulator the env drives, in this process or leased from a worker host.

Both kinds speak the protocol's segments and RAM ranges, so the env cannot tell
them apart, and in-process runs exercise the same request handling as remote ones.
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

import numpy as np

from emulator_worker import protocol as p
from emulator_worker.backends import create_backend
from emulator_worker.instances import Executor
from sf2rl.core import errors
from sf2rl.core.config import EnvConfig
from sf2rl.core.game.spec import Decoder
from sf2rl.core.game.specs import get_game
from sf2rl.transport.client import CurveKeys, EmulatorClient, Pending
from sf2rl.transport.faults import error_for


class Console(Protocol):
    """The emulator as the env sees it."""

    backend: str
    buttons: tuple[str, ...]

    def reset(self, ram_ranges: tuple[tuple[int, int], ...], want_frame: bool, **options: Any) -> p.ObservationReply:
        """Start a new match."""

    def step(
        self, segments: tuple[p.Segment, ...], ram_ranges: tuple[tuple[int, int], ...], want_frame: bool
    ) -> p.ObservationReply:
        """Run input segments."""

    def step_async(
        self, segments: tuple[p.Segment, ...], ram_ranges: tuple[tuple[int, int], ...], want_frame: bool
    ) -> None:
        """Start running input segments; :meth:`step_wait` returns the observation."""

    def step_wait(self) -> p.ObservationReply:
        """The observation of the step started by :meth:`step_async`."""

    def frame(self) -> np.ndarray:
        """The current RGB frame."""

    def close(self) -> None:
        """Free the emulator."""

    @property
    def rtt_ms(self) -> float | None:
        """Round-trip time of the last request, for remote consoles."""


class LocalConsole:
    """An emulator backend in this process, driven through the worker's own request executor."""

    def __init__(self, backend: str, options: dict[str, Any]) -> None:
        self.backend = backend
        self._exec = Executor(create_backend(backend, **options))
        self.buttons = tuple(self._exec.backend.buttons)
        self._ids = 0
        self._pending: p.Step | None = None

    def _call(self, req: p.Reset | p.Step) -> p.ObservationReply:
        # Through the wire encoding both ways, so in-process runs exercise what a host runs.
        reply = p.decode_reply(self._exec.handle(p.encode_request(req)))
        if isinstance(reply, p.ErrorReply):
            raise error_for(reply)
        parsed = p.parse_reply(req.COMMAND, reply)
        assert isinstance(parsed, p.ObservationReply)
        return parsed

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    def reset(self, ram_ranges: tuple[tuple[int, int], ...], want_frame: bool, **options: Any) -> p.ObservationReply:
        """Start a new match."""
        return self._call(p.Reset(id=self._id(), ram_ranges=ram_ranges, want_frame=want_frame, **options))

    def step(
        self, segments: tuple[p.Segment, ...], ram_ranges: tuple[tuple[int, int], ...], want_frame: bool
    ) -> p.ObservationReply:
        """Run input segments."""
        self.step_async(segments, ram_ranges, want_frame)
        return self.step_wait()

    def step_async(
        self, segments: tuple[p.Segment, ...], ram_ranges: tuple[tuple[int, int], ...], want_frame: bool
    ) -> None:
        """Remember the step; in-process there is nothing to overlap it with."""
        self._pending = p.Step(self._id(), "", 0, segments, ram_ranges, want_frame)

    def step_wait(self) -> p.ObservationReply:
        """Run the remembered step."""
        req, self._pending = self._pending, None
        if req is None:
            raise RuntimeError("step_wait() without step_async()")
        return self._call(req)

    def frame(self) -> np.ndarray:
        """The current RGB frame."""
        return self._exec.backend.frame()

    def close(self) -> None:
        """Free the emulator."""
        self._exec.backend.close()

    @property
    def rtt_ms(self) -> float | None:
        """No transport in-process."""
        return None


_UNREACHABLE: dict[str, float] = {}
"""Hosts this process last found silent, and when: a rebuilt env tries the others first."""
PROBE_MS = 3000
"""How long a host that is being chosen gets to answer ``hello``: a live host answers in milliseconds."""


def host_order(endpoint: str, alternates: tuple[str, ...]) -> list[str]:
    """The hosts to try: the env's own first, then its alternates; those found silent go last, oldest failure first."""
    hosts = list(dict.fromkeys([endpoint, *alternates]))
    return sorted(hosts, key=lambda h: _UNREACHABLE.get(h, 0.0))  # stable: the given order among the live


class RemoteConsole:
    """One slot leased from a worker host, or from one of its alternates when it does not answer."""

    def __init__(self, endpoint: str, config: EnvConfig) -> None:
        w = config.worker
        self.curve = CurveKeys.from_files(w.server_key, w.client_key) if w.server_key and w.client_key else None
        self.lease_ttl = w.lease_ttl
        self._pending: Pending | None = None
        failures: list[errors.WorkerError] = []
        hosts = host_order(endpoint, w.alternates)
        # With somewhere else to go, a silent host gets a short probe; alone, it gets the usual patience.
        probe_ms, probe_retries = (min(w.timeout_ms, PROBE_MS), 0) if len(hosts) > 1 else (w.timeout_ms, w.retries)
        for host in hosts:
            client = EmulatorClient(host, timeout_ms=probe_ms, retries=probe_retries, curve=self.curve)
            try:
                info = client.hello()
                if not info.free:
                    raise errors.NoCapacityError(f"worker host {host} has no free slot ({info.slots} total)")
                client.timeout_ms, client.retries = w.timeout_ms, w.retries
                client.lease(1, ttl=self.lease_ttl, owner=f"pid{os.getpid()}")
            except (errors.WorkerUnavailableError, errors.NoCapacityError) as e:
                client.close()
                if isinstance(e, errors.WorkerUnavailableError):
                    _UNREACHABLE[host] = time.monotonic()
                failures.append(e)
                continue
            _UNREACHABLE.pop(host, None)
            self.client, self.backend, self.buttons = client, info.backend, info.buttons
            return
        if len(failures) == 1:
            raise failures[0]  # one host: its own error, as before failover existed
        raise errors.WorkerUnavailableError(
            "no worker host could lease a slot:\n  " + "\n  ".join(str(e) for e in failures)
        )

    def reset(self, ram_ranges: tuple[tuple[int, int], ...], want_frame: bool, **options: Any) -> p.ObservationReply:
        """Start a new match, leasing again if the host forgot our lease (e.g. it restarted)."""
        try:
            return self.client.reset(0, ram_ranges=ram_ranges, want_frame=want_frame, **options)
        except errors.LeaseLostError:
            self.client.release()
            self.client.lease(1, ttl=self.lease_ttl, owner=f"pid{os.getpid()}")
            return self.client.reset(0, ram_ranges=ram_ranges, want_frame=want_frame, **options)

    def step(
        self, segments: tuple[p.Segment, ...], ram_ranges: tuple[tuple[int, int], ...], want_frame: bool
    ) -> p.ObservationReply:
        """Run input segments."""
        try:
            return self.client.step(0, segments, ram_ranges=ram_ranges, want_frame=want_frame)
        except errors.WorkerUnavailableError:
            _UNREACHABLE[self.client.endpoint] = time.monotonic()  # the env's rebuild tries its alternates first
            raise

    def step_async(
        self, segments: tuple[p.Segment, ...], ram_ranges: tuple[tuple[int, int], ...], want_frame: bool
    ) -> None:
        """Send the step; the emulator runs it while the caller does other work."""
        self._pending = self.client.step_async(0, segments, ram_ranges=ram_ranges, want_frame=want_frame)

    def step_wait(self) -> p.ObservationReply:
        """The reply to the step sent by :meth:`step_async`."""
        pending, self._pending = self._pending, None
        if pending is None:
            raise RuntimeError("step_wait() without step_async()")
        try:
            return self.client.step_wait(pending)
        except errors.WorkerUnavailableError:
            _UNREACHABLE[self.client.endpoint] = time.monotonic()
            raise

    def frame(self) -> np.ndarray:
        """The current RGB frame."""
        return self.client.frame(0)

    def close(self) -> None:
        """Return the slot."""
        self.client.close()

    @property
    def rtt_ms(self) -> float | None:
        """Round-trip time of the last request."""
        return self.client.last_rtt_ms


def open_console(config: EnvConfig) -> Console:
    """The console an env config asks for."""
    if config.remote:
        return RemoteConsole(config.backend, config)
    options = dict(config.backend_options)
    spec = get_game(config.game)
    backend_game = GAME_OPTION.get(config.backend)
    if backend_game:
        options.setdefault(backend_game, spec.backends[config.backend])
    if config.backend in RANGED_BACKENDS:
        # BizHawk ships only the RAM ranges it is told over its text socket; tell it what the spec decodes.
        options.setdefault("ram_ranges", [list(r) for r in Decoder(spec).ranges])
    return LocalConsole(config.backend, options)


# Which backend option names the game to load; the simulator has only one game.
GAME_OPTION: dict[str, str] = {"retro": "game"}
RANGED_BACKENDS = frozenset({"bizhawk"})
