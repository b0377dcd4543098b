"""One fault, one exception type: an emulator in this process and one on a worker host fail alike."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator_worker import protocol as p
from sf2rl.core import errors
from sf2rl.core.config import EnvConfig
from sf2rl.transport.emulator import Console, open_console
from sf2rl.transport.faults import ERRORS, error_for

RAM = ((0, 16),)
FAULTS: dict[str, tuple[Callable[[Console], object], type[errors.WorkerError], str]] = {
    "a button outside the pad": (
        lambda c: c.step((p.Segment(1 << 15, 0, 1),), RAM, False), errors.BadRequestError, "button mask 32768"),
    "a RAM range past the end": (
        lambda c: c.step((p.Segment(0, 0, 1),), ((0, 1 << 20),), False), errors.BadRequestError, "exceeds"),
    "a savestate the backend cannot start from": (
        lambda c: c.reset(RAM, False, state="round2"), errors.BadRequestError, "not savestate files"),
}  # fmt: skip


@pytest.fixture(params=["in-process", "worker host"])
def console(request: pytest.FixtureRequest, spawn_host) -> Console:  # type: ignore[no-untyped-def]
    backend = "sim" if request.param == "in-process" else spawn_host("sim", 1).endpoints[0]
    c = open_console(EnvConfig(backend=backend))
    c.reset(RAM, False)
    yield c
    c.close()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_same_fault_raises_the_same_error_type_in_process_and_remotely(console: Console, fault: str) -> None:
    trigger, expected, words = FAULTS[fault]
    with pytest.raises(expected, match=words) as caught:
        trigger(console)
    assert type(caught.value) is expected
    assert caught.value.remote_type == p.ErrorType.BAD_REQUEST.value
    # The emulator keeps serving after the error reply.
    console.step((p.Segment(0, 0, 1),), RAM, False)


def test_every_error_type_the_protocol_knows_has_its_own_exception() -> None:
    assert set(ERRORS) == set(p.ErrorType)
    assert len(set(ERRORS.values())) == len(p.ErrorType)
    for kind, cls in ERRORS.items():
        err = error_for(p.ErrorReply(7, kind, "boom", "Traceback: x"))
        assert type(err) is cls and err.remote_type == kind.value and err.remote_traceback == "Traceback: x"
        assert str(err) == f"{kind.value}: boom"
