"""Tracking writes that MLflow could not take yet, kept in order and replayed once it is back.

A sweep runs for hours; its MLflow server restarts, loses its network or fills its disk. The
sweep's trials do not need MLflow to train, so an outage must not stop them: each write is
queued, the queue is written in order whenever MLflow answers, and what is still queued when
the sweep ends is retried against a deadline.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from mlflow.exceptions import MlflowException

log = logging.getLogger(__name__)

TRANSIENT_CODES = frozenset({"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})
"""MLflow error codes of a server that is down, restarting or overloaded (a refused connection is INTERNAL_ERROR)."""


def transient(error: Exception) -> bool:
    """Whether ``error`` may go away by itself (an outage), rather than being the write's own fault."""
    if isinstance(error, MlflowException):
        return error.error_code in TRANSIENT_CODES
    return isinstance(error, OSError)


class Backlog:
    """Runs tracking writes in order; during an outage it keeps them and the caller goes on."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._writes: deque[tuple[str, Callable[[], object]]] = deque()
        self._down_since: float | None = None

    def __len__(self) -> int:
        return len(self._writes)

    def run(self, what: str, write: Callable[[], object]) -> None:
        """Queue ``write`` (described by ``what``) behind any waiting ones and write what MLflow takes."""
        self._writes.append((what, write))
        self.drain()

    def drain(self) -> bool:
        """Write the queue in order until it is empty (True) or MLflow stops answering (False)."""
        while self._writes:
            what, write = self._writes[0]
            try:
                write()
            except Exception as e:  # sorted below: an outage waits, a bad write is dropped
                if transient(e):
                    if self._down_since is None:
                        self._down_since = time.monotonic()
                        log.warning(
                            "MLflow at %s is not answering (%s); the sweep goes on and keeps its records "
                            "until it is back", self.uri, str(e)[:200],
                        )  # fmt: skip
                    return False
                log.error("MLflow refused %s, dropped: %s", what, e)
            self._writes.popleft()
        if self._down_since is not None:
            log.warning("MLflow at %s is back after %.0f s; buffered records written", self.uri,
                        time.monotonic() - self._down_since)  # fmt: skip
            self._down_since = None
        return True

    def flush(self, timeout_s: float) -> bool:
        """Retry the queue, backing off, for up to ``timeout_s``; True once it is all written."""
        deadline = time.monotonic() + timeout_s
        pause = 0.5
        while not self.drain():
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("MLflow at %s still down after %.0f s: %d record(s) not written", self.uri, timeout_s,
                          len(self._writes))  # fmt: skip
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 2, 10.0)
        return True
