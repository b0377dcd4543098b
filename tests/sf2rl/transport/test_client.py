"""The client's reply routing, against a scripted ROUTER on a real loopback socket.

With several requests in flight on one socket, a reply or crash notice that arrives while
another request is awaited must reach its own request, and a stale one must be dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import zmq

from emulator_worker import protocol as p
from sf2rl.core import errors
from sf2rl.transport.client import EmulatorClient


class ScriptedHost:
    """A ROUTER that answers only when told to, in the order the test chooses."""

    def __init__(self) -> None:
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.peer = b""

    def take(self) -> p.Request:
        """The next request a client sent."""
        assert self.sock.poll(5000), "the client sent nothing"
        self.peer, *frames = self.sock.recv_multipart()
        return p.decode_request(frames)

    def answer(self, reply: p.Reply | p.ErrorReply) -> None:
        self.sock.send_multipart([self.peer, *p.encode_reply(reply)])


@pytest.fixture
def host() -> Iterator[ScriptedHost]:
    h = ScriptedHost()
    yield h
    h.sock.close(0)


@pytest.fixture
def client(host: ScriptedHost) -> Iterator[EmulatorClient]:
    c = EmulatorClient(host.endpoint, timeout_ms=3000, retries=0)
    yield c
    c.timeout_ms = 100  # the scripted host never answers the release that close() sends
    c.close()


def _step(slot: int, rid: int) -> p.Step:
    return p.Step(rid, "lease-1", slot, (p.Segment(0, 0, 1),), ((0, 4),), False)


def test_a_reply_to_another_request_in_flight_is_kept_for_it(host: ScriptedHost, client: EmulatorClient) -> None:
    first, second = client.send(_step(0, 101)), client.send(_step(1, 102))
    assert [host.take().id, host.take().id] == [101, 102]
    host.answer(p.ObservationReply(102, b"BBBB", frames_run=2))  # the second slot answers first
    host.answer(p.ObservationReply(101, b"AAAA", frames_run=1))
    assert client.receive(first).ram == b"AAAA"
    assert client.receive(second).ram == b"BBBB"


def test_a_stale_reply_is_dropped_and_the_awaited_one_still_arrives(host: ScriptedHost, client: EmulatorClient) -> None:
    pending = client.send(_step(0, 201))
    host.take()
    host.answer(p.ObservationReply(7, b"old!", frames_run=0))  # answers a request abandoned long ago
    host.answer(p.ObservationReply(201, b"mine", frames_run=3))
    assert client.receive(pending).ram == b"mine"
    assert 7 not in client._early  # nothing kept for a request that is not in flight


def test_a_crash_notice_for_another_slot_waits_for_that_slots_request(
    host: ScriptedHost, client: EmulatorClient
) -> None:
    alive, dead = client.send(_step(0, 301)), client.send(_step(1, 302))
    host.take(), host.take()
    host.answer(p.ErrorReply(None, p.ErrorType.INSTANCE_CRASHED, "slot 1 died", slot=1))
    host.answer(p.ObservationReply(301, b"ok!!", frames_run=4))
    assert client.receive(alive).ram == b"ok!!"
    with pytest.raises(errors.InstanceCrashedError, match="slot 1 died"):
        client.receive(dead)


def test_an_error_reply_becomes_its_typed_error_and_the_client_goes_on(
    host: ScriptedHost, client: EmulatorClient
) -> None:
    bad = client.send(_step(0, 401))
    host.take()
    host.answer(p.ErrorReply(401, p.ErrorType.BAD_REQUEST, "button mask 32768 outside 12 bits"))
    with pytest.raises(errors.BadRequestError, match="button mask"):
        client.receive(bad)
    good = client.send(_step(0, 402))
    host.take()
    host.answer(p.ObservationReply(402, b"next", frames_run=5))
    assert client.receive(good).ram == b"next"


def test_a_reply_whose_fields_do_not_fit_its_command_is_a_transport_error(
    host: ScriptedHost, client: EmulatorClient
) -> None:
    # Replies are typed like requests: a step's reply must say how many frames have run.
    pending = client.send(_step(0, 501))
    host.take()
    host.answer(p.Reply(501, {"frames": "many"}, ram=b"xxxx"))
    with pytest.raises(errors.TransportError, match="frames_run"):
        client.receive(pending)


def _leased(host: ScriptedHost, client: EmulatorClient, ttl: float) -> float:
    """Lease through the scripted host; returns when the grant was sent (the host's first renewal)."""
    granted: list[float] = []

    def grant() -> None:
        req = host.take()
        host.answer(p.LeaseGrant(req.id, "lease-1").wire())
        granted.append(time.monotonic())

    t = threading.Thread(target=grant)
    t.start()
    client.lease(1, ttl=ttl)
    t.join()
    return granted[0]


def test_the_lease_outlives_a_lost_heartbeat(host: ScriptedHost, client: EmulatorClient) -> None:
    # The host expires a lease ttl after its last renewal: after one heartbeat goes unanswered,
    # the next must arrive before then (renewing every ttl/3 with the owner's 3 s timeout did not).
    ttl = 3.0
    renewed = _leased(host, client, ttl)
    lost = host.take()
    assert isinstance(lost, p.Heartbeat)  # left unanswered
    retry = host.take()
    arrived = time.monotonic()
    assert isinstance(retry, p.Heartbeat) and retry.lease == "lease-1"
    assert arrived - renewed < ttl, f"second heartbeat {arrived - renewed:.2f} s after the renewal, lease ttl {ttl} s"
    host.answer(p.Ack(retry.id).wire())
    assert client.lease_problem is None


def test_the_owner_is_told_when_the_host_drops_its_lease(host: ScriptedHost, client: EmulatorClient) -> None:
    _leased(host, client, ttl=0.8)
    beat = host.take()
    host.answer(p.ErrorReply(beat.id, p.ErrorType.LEASE, "unknown lease lease-1"))
    deadline = time.monotonic() + 5
    while client.lease_problem is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(errors.LeaseLostError, match="dropped lease"):
        client.reset(0)
    assert not host.sock.poll(200), "the reset was sent on a lease known to be lost"


def test_the_owner_is_told_when_no_heartbeat_gets_through_for_a_ttl(host: ScriptedHost, client: EmulatorClient) -> None:
    ttl = 0.8
    _leased(host, client, ttl)
    deadline = time.monotonic() + 5
    while client.lease_problem is None and time.monotonic() < deadline:
        if host.sock.poll(50):
            host.sock.recv_multipart()  # heard, never answered
    assert client.lease_problem is not None and "no heartbeat reached" in client.lease_problem
    with pytest.raises(errors.LeaseLostError, match="has expired there"):
        client.reset(0)
