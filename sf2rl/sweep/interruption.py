"""Stopping a sweep the way Docker, Kubernetes and Ctrl+C stop it, without losing it.

Tune saves its experiment state when it is interrupted through its own handler (SIGINT, or
SIGUSR1), but ``ray.init`` maps SIGTERM to ``sys.exit``, which skips that final snapshot and
leaves every MLflow run RUNNING. :class:`Interruption` takes both signals: the first is handed
to Tune's handler, so the trials stop and the state is saved; the sweep then reports the signal
and exits 128 + its number, the shell convention (130 for SIGINT, 143 for SIGTERM). A second
signal kills at once.
"""

from __future__ import annotations

import os
import signal
from types import FrameType, TracebackType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SweepInterrupted(Exception):
    """A signal stopped the sweep outside Tune's loop (while setting up or summarising)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class Interruption:
    """Context manager that turns SIGINT and SIGTERM into Tune's graceful stop and remembers which came."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.tune_running = False
        """True while ``Tuner.fit`` runs: the signal goes to Tune; otherwise it raises :class:`SweepInterrupted`."""
        self._previous: dict[int, object] = {}
        self._tune_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")

    def install(self) -> None:
        """Take both signals (again: ``ray.init`` replaces the SIGTERM handler)."""
        # Tune would put its own SIGINT handler over ours while it runs; SIGUSR1 it always takes.
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        for sig in SIGNALS:
            previous = signal.signal(sig, self._on_signal)
            self._previous.setdefault(sig, previous)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_DFL)  # a second signal kills without waiting
        tune = signal.getsignal(signal.SIGUSR1) if hasattr(signal, "SIGUSR1") else None
        if not (self.tune_running and callable(tune)):
            raise SweepInterrupted(signum)
        tune(signum, frame)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Tune's handler just put back the one it found (ours)

    def __enter__(self) -> Interruption:
        self.install()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]  # what signal.signal returned
        if self._tune_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = self._tune_env
