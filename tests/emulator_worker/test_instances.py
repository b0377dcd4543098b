"""An instance's wait for its next request: a bounded poll before it sleeps, only while it pays."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
import zmq

from emulator_worker.instances import Spinner, _spin

_names = itertools.count()


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]]:
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    name = f"inproc://spin-{next(_names)}"
    a.bind(name)
    b.connect(name)
    yield a, b
    a.close(0)
    b.close(0)


def test_spin_returns_once_a_socket_is_readable(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> None:
    a, b = pair
    a.send(b"next step")
    t0 = time.perf_counter()
    assert _spin((b,), 30.0)
    assert time.perf_counter() - t0 < 15.0  # returned on the message, far short of the 30 s bound
    assert b.recv() == b"next step"  # spinning only looks; the request is still there to read


def test_spin_gives_up_after_its_budget(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> None:
    _, b = pair
    t0 = time.perf_counter()
    assert not _spin((b,), 0.02)
    assert time.perf_counter() - t0 >= 0.02


def test_spinner_stops_after_a_run_of_misses_and_resumes_for_a_quick_client(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    a, b = pair
    spinner = Spinner(0.002)
    for _ in range(Spinner.MISSES_TO_STOP - 1):
        spinner.replied((b,))  # the client is thinking: nothing arrives within 2 ms
    assert spinner.active
    spinner.replied((b,))
    assert not spinner.active  # a slow client no longer costs CPU after each reply
    time.sleep(0.05)
    spinner.received()  # a request long after the reply: polling would not have caught it
    assert not spinner.active
    spinner.replied((b,))
    spinner.received()  # a request right after the reply: polling pays again
    assert spinner.active and spinner.misses == 0
    a.send(b"step")
    spinner.replied((b,))  # a hit keeps it polling
    assert spinner.active and spinner.misses == 0


def test_spin_us_zero_never_polls(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> None:
    _, b = pair
    spinner = Spinner(0.0)
    spinner.replied((b,))
    spinner.received()
    assert not spinner.active
