"""Trial-owned emulator pools: spawn a private worker host, or lease from existing ones."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from typing import Any, Protocol

from emulator_worker.instances import SPIN_US
from sf2rl.core import errors
from sf2rl.transport.client import CurveKeys, EmulatorClient

log = logging.getLogger(__name__)

SPAWN_TIMEOUT_S = 60.0


class Pool(Protocol):
    """Emulator capacity a trial owns for its lifetime."""

    endpoints: list[str]

    def start(self) -> None:
        """Make the endpoints usable."""

    def stop(self) -> None:
        """Give everything back."""


class SpawnedPool:
    """A worker host started by (and dying with) the trial process, bound to loopback."""

    def __init__(
        self,
        backend: str,
        slots: int,
        backend_options: dict[str, Any] | None = None,
        bind_host: str = "127.0.0.1",
        idle_exit: float = 600.0,
        spin_us: int = SPIN_US,
        games_per_instance: int = 1,
    ) -> None:
        self.backend = backend
        self.slots = slots
        self.backend_options = backend_options or {}
        self.bind_host = bind_host
        self.idle_exit = idle_exit
        self.spin_us = spin_us
        self.games_per_instance = games_per_instance
        self.endpoints: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Launch `emulator-worker serve` on a free port and wait until it listens."""
        cmd = [
            sys.executable,
            "-m",
            "emulator_worker",
            "serve",
            "--backend",
            self.backend,
            "--slots",
            str(self.slots),
            "--bind",
            f"tcp://{self.bind_host}:0",
            "--backend-options",
            json.dumps(self.backend_options),
            "--parent-pid",
            str(os.getpid()),
            "--idle-exit",
            str(self.idle_exit),
            "--spin-us",
            str(self.spin_us),
            "--games-per-instance",
            str(self.games_per_instance),
        ]
        # The host polls --parent-pid rather than using PR_SET_PDEATHSIG: that signal fires when the
        # spawning *thread* exits, and Ray may run trial setup on a short-lived thread.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self._first_line(SPAWN_TIMEOUT_S)
        try:
            event = json.loads(line)
            self.endpoints = [event["endpoint"]]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            self.stop()
            raise errors.WorkerUnavailableError(f"worker host did not start: {line!r}") from e

    def _first_line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not out or not out[0]:
            code = self.proc.poll()
            self.stop()
            raise errors.WorkerUnavailableError(
                f"worker host did not report an endpoint within {timeout:.0f} s (exit code {code}); "
                "run `emulator-worker serve` by hand to see its error"
            )
        return out[0].strip()

    def stop(self) -> None:
        """Terminate the host (its instances die with it)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


class ConnectedPool:
    """Existing worker hosts (e.g. Windows BizHawk machines); envs lease their own slots."""

    def __init__(self, endpoints: list[str], curve: CurveKeys | None = None, timeout_ms: int = 5000) -> None:
        self.endpoints = list(endpoints)
        self.curve = curve
        self.timeout_ms = timeout_ms

    def start(self) -> None:
        """Check the hosts before the trial starts: any one that answers with a free slot will do.

        Envs lease from their own host and fail over to the others, so a host that is down now
        costs its envs a move, not the trial.
        """
        problems: list[errors.WorkerError] = []
        for endpoint in self.endpoints:
            client = EmulatorClient(endpoint, timeout_ms=self.timeout_ms, retries=1, curve=self.curve)
            try:
                info = client.hello()
            except errors.WorkerUnavailableError as e:
                problems.append(e)
                continue
            finally:
                client.close()
            if not info.free:
                problems.append(
                    errors.NoCapacityError(f"worker host {endpoint} has no free slots ({info.slots} total)")
                )
        if len(problems) == len(self.endpoints):
            if len(problems) == 1:
                raise problems[0]
            raise errors.WorkerUnavailableError("no worker host is usable:\n  " + "\n  ".join(str(e) for e in problems))
        for problem in problems:
            log.warning("%s; its envs lease from the other hosts until it is back", problem)

    def stop(self) -> None:
        """Envs release their own leases; hosts expire any left behind."""


class InlinePool:
    """No worker host: the trial's envs run their backend in the trial process itself.

    Worth it for a backend as cheap as the simulator: a spawned host's process costs the trial a
    third of a core in sockets and wake-ups, which concurrent trials on the same cores pay for.
    """

    def __init__(self) -> None:
        self.endpoints: list[str] = []

    def start(self) -> None:
        """Nothing to start; each env builds its own in-process backend."""

    def stop(self) -> None:
        """Nothing to stop; each env frees its backend when it closes."""


def wait_until_gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` is gone within ``timeout`` seconds (for tests and teardown checks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
