"""An instance's wait for its next request: a bounded poll before it sleeps."""

from __future__ import annotations

import time

import zmq

from emulator_worker.instances import _spin


def test_spin_returns_once_a_socket_is_readable() -> None:
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://spin-ready")
    b.connect("inproc://spin-ready")
    try:
        a.send(b"next step")
        t0 = time.perf_counter()
        _spin((b,), 30.0)
        assert time.perf_counter() - t0 < 15.0  # returned on the message, far short of the 30 s bound
        assert b.recv() == b"next step"  # spinning only looks; the request is still there to read
    finally:
        a.close(0)
        b.close(0)


def test_spin_gives_up_after_its_budget() -> None:
    ctx = zmq.Context.instance()
    idle = ctx.socket(zmq.PAIR)
    idle.bind("inproc://spin-idle")
    try:
        t0 = time.perf_counter()
        _spin((idle,), 0.02)
        assert time.perf_counter() - t0 >= 0.02
    finally:
        idle.close(0)
