"""An instance process's message handling: its control link, its direct socket, and the bounded poll
for its next request before it sleeps, only while that pays."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
import zmq

from emulator_worker import instances
from emulator_worker import protocol as p
from emulator_worker.backends import create_backend
from emulator_worker.instances import GRANT_WAIT_S, Executor, Games, Link, Spinner, _spin

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
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock that moves 0.5 ms per reading, not with the machine's load: "within 2 ms" is exact.
    clock = _StepClock(0.0005)
    monkeypatch.setattr(instances.time, "perf_counter", clock)
    a, b = pair
    spinner = Spinner(0.002)
    for _ in range(Spinner.MISSES_TO_STOP - 1):
        spinner.replied((b,))  # the client is thinking: nothing arrives within 2 ms
    assert spinner.active
    spinner.replied((b,))
    assert not spinner.active  # a slow client no longer costs CPU after each reply
    clock.now += 0.05
    spinner.received()  # a request 50 ms after the reply: polling would not have caught it
    assert not spinner.active
    spinner.replied((b,))
    spinner.received()  # a request right after the reply: polling pays again
    assert spinner.active and spinner.misses == 0
    a.send(b"step")
    assert b.poll(5000)  # the request is there before the reply goes out
    spinner.replied((b,))  # a hit keeps it polling
    assert spinner.active and spinner.misses == 0


class _StepClock:
    """``time.perf_counter`` stand-in: each reading is ``step`` seconds after the last."""

    def __init__(self, step: float) -> None:
        self.step, self.now = step, 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_spin_us_zero_never_polls(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> None:
    _, b = pair
    spinner = Spinner(0.0)
    spinner.replied((b,))
    spinner.received()
    assert not spinner.active


@pytest.fixture
def link(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> Iterator[tuple[Link, zmq.Socket[bytes]]]:
    """An instance's message handling with two simulator games; ``host`` is the host's end of its link."""
    host, control = pair
    games = Games([Executor(create_backend("sim"), check_lease=True) for _ in range(2)])
    yield Link(games, control), host
    games.close()


def _reply(host: zmq.Socket[bytes]) -> list[bytes]:
    assert host.poll(5000), "the instance did not answer"
    return host.recv_multipart()


def test_a_client_routing_id_is_only_an_address_on_the_instance_link(link: tuple[Link, zmq.Socket[bytes]]) -> None:
    instance, host = link
    instance.on_control([p.Control.GRANT.value, b"lease-a", b"0", b"0"])
    instance.on_control([p.Control.GRANT.value, b"lease-b", b"1", b"0"])
    for i, client in enumerate([c.value for c in p.Control]):
        request = p.encode_request(p.Reset(id=i + 1, lease="lease-a", seed=i))
        instance.on_control([p.Control.FORWARD.value, client, *request])
        word, to, *frames = _reply(host)
        assert (word, to) == (p.Control.REPLY.value, client)
        reply = p.decode_reply(frames)
        assert isinstance(reply, p.Reply) and reply.id == i + 1
    # No id granted, revoked or pinged anything: both games still answer to their leases.
    assert instance.games.routes == {("lease-a", 0): 0, ("lease-b", 0): 1}
    assert not host.poll(50)


def test_malformed_control_messages_are_dropped(link: tuple[Link, zmq.Socket[bytes]], capsys) -> None:
    instance, host = link
    instance.on_control([p.Control.GRANT.value, b"lease-a", b"0", b"0"])
    for msg in (
        [],
        [b"GRANT"],
        [p.Control.GRANT.value, b"\xff\xfe", b"0", b"0"],
        [p.Control.GRANT.value, b"x", b"nine", b"0"],
        [p.Control.GRANT.value, b"x", b"7", b"0"],  # no game 7 here
        [p.Control.REVOKE.value, b"\x85\xa1v"],
        [p.Control.REVOKE.value, b"-1"],
        [p.Control.FORWARD.value],
        [p.Control.REPLY.value, b"c", b"x"],
        [b"somebody", *p.encode_request(p.Reset(id=1, lease="lease-a"))],
    ):
        instance.on_control(msg)
    assert instance.games.routes == {("lease-a", 0): 0}
    assert not host.poll(50), "nothing there asks for an answer"
    instance.on_control([p.Control.PING.value])
    assert _reply(host) == [p.Control.PONG.value]


def test_direct_requests_awaiting_a_grant_do_not_hold_up_other_lessees(link: tuple[Link, zmq.Socket[bytes]]) -> None:
    instance, _ = link
    ctx = zmq.Context.instance()
    direct, client = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    name = f"inproc://direct-{next(_names)}"
    direct.bind(name)
    client.connect(name)
    instance.direct = direct
    try:
        instance.on_control([p.Control.GRANT.value, b"known", b"0", b"0"])
        t0 = time.perf_counter()
        for rid, lease in ((1, "not-yet"), (2, "known")):
            client.send_multipart(p.encode_request(p.Reset(id=rid, lease=lease)))
            assert direct.poll(5000)
            instance.on_direct(direct.recv_multipart())
        assert time.perf_counter() - t0 < GRANT_WAIT_S, "a request for an unknown lease made the next one wait"
        assert client.poll(5000) and p.decode_reply(client.recv_multipart()).id == 2
        assert instance.timeout_ms() is not None  # the main loop wakes for the parked request's deadline
        instance.on_control([p.Control.GRANT.value, b"not-yet", b"1", b"0"])  # the grant that was in flight
        assert client.poll(5000)
        reply = p.decode_reply(client.recv_multipart())
        assert isinstance(reply, p.Reply) and reply.id == 1
        assert not instance.parked and instance.timeout_ms() is None
    finally:
        direct.close(0)
        client.close(0)
