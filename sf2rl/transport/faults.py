"""The one translation of a host's error replies into ``sf2rl.core.errors`` types.

Both the remote client and the in-process emulator handle raise through here, so
the same fault (a bad button, a backend exception) is the same exception whether
the emulator runs in this process or on a worker host.
"""

from __future__ import annotations

from emulator_worker import protocol as p
from sf2rl.core import errors

ERRORS: dict[p.ErrorType, type[errors.WorkerError]] = {
    p.ErrorType.BAD_REQUEST: errors.BadRequestError,
    p.ErrorType.VERSION_MISMATCH: errors.VersionMismatchError,
    p.ErrorType.LEASE: errors.LeaseLostError,
    p.ErrorType.NO_CAPACITY: errors.NoCapacityError,
    p.ErrorType.INSTANCE_CRASHED: errors.InstanceCrashedError,
    p.ErrorType.BACKEND: errors.BackendError,
    p.ErrorType.INTERNAL: errors.WorkerError,
}


def error_for(reply: p.ErrorReply) -> errors.WorkerError:
    """The exception an error reply stands for, carrying the host's type name and traceback."""
    cls = ERRORS.get(reply.type, errors.WorkerError)
    return cls(f"{reply.type.value}: {reply.message}", reply.type.value, reply.traceback)
