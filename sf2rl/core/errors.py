"""Every error sf2rl raises on purpose; transport failures are translated into these once."""

from __future__ import annotations


class SF2RLError(Exception):
    """Base of all sf2rl errors."""


class ConfigError(SF2RLError, ValueError):
    """A sweep file, env option or command-line value is invalid."""


class CheckpointError(SF2RLError):
    """A checkpoint is missing or does not match the env it is used with."""


class WorkerError(SF2RLError):
    """A worker host answered a request with an error."""

    def __init__(self, message: str, remote_type: str = "", remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback


class BadRequestError(WorkerError):
    """The host rejected a request as malformed or invalid."""


class VersionMismatchError(WorkerError):
    """Client and host speak different protocol versions."""


class LeaseLostError(WorkerError):
    """The lease expired or the host restarted; lease again."""


class NoCapacityError(WorkerError):
    """The host has no free slots (or its emulators failed to start)."""


class InstanceCrashedError(WorkerError):
    """An emulator instance died; the host restarted it and the match must be reset."""


class BackendError(WorkerError):
    """The emulator backend failed while serving a request."""


class WorkerUnavailableError(WorkerError):
    """No reply from the host within the timeout, after retries."""


class TransportError(WorkerError):
    """The host's reply could not be decoded."""
