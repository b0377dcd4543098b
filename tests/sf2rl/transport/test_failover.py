"""Connect mode over several real worker hosts on loopback: one host down costs its envs a move, not the trial."""

from __future__ import annotations

import pytest

from sf2rl.core import errors
from sf2rl.core.config import EnvConfig
from sf2rl.env.environment import SF2Env
from sf2rl.transport import emulator
from sf2rl.transport.pool import ConnectedPool

FAST = {"timeout_ms": 800, "retries": 0}


def _endpoint(env: SF2Env) -> str:
    console = env.console
    assert isinstance(console, emulator.RemoteConsole)
    return console.client.endpoint


@pytest.fixture(autouse=True)
def _forget_silent_hosts() -> None:
    emulator._UNREACHABLE.clear()  # process-wide memory; each test starts without it


def test_an_env_whose_host_is_down_leases_from_an_alternate(spawn_host) -> None:
    live, dead = spawn_host(slots=1), spawn_host(slots=1)
    gone = dead.endpoints[0]
    dead.stop()
    env = SF2Env(EnvConfig(backend=gone, frame_skip=4, worker={**FAST, "alternates": [live.endpoints[0]]}))
    env.reset(seed=0)
    env.step(0)
    assert _endpoint(env) == live.endpoints[0]
    env.close()
    with pytest.raises(errors.WorkerUnavailableError, match="no reply"):
        SF2Env(EnvConfig(backend=gone, frame_skip=4, worker=FAST)).reset(seed=0)  # no alternate: the host's own error


def test_an_env_rebuilt_after_its_host_died_mid_match_moves_and_tries_the_live_host_first(spawn_host) -> None:
    a, b = spawn_host(slots=1), spawn_host(slots=1)
    cfg = EnvConfig(backend=a.endpoints[0], frame_skip=4, worker={**FAST, "alternates": [b.endpoints[0]]})
    env = SF2Env(cfg)
    env.reset(seed=0)
    assert _endpoint(env) == a.endpoints[0]
    a.stop()
    with pytest.raises(errors.WorkerError):
        env.step(0)
    env.close()
    # The failed step marked the host silent, so the rebuild does not wait out its timeout first.
    assert emulator.host_order(a.endpoints[0], (b.endpoints[0],)) == [b.endpoints[0], a.endpoints[0]]
    again = SF2Env(cfg)
    again.reset(seed=0)
    again.step(0)
    assert _endpoint(again) == b.endpoints[0]
    again.close()


def test_a_connected_pool_starts_with_any_host_up(spawn_host) -> None:
    live, dead, dead2 = spawn_host(slots=1), spawn_host(slots=1), spawn_host(slots=1)
    dead.stop()
    dead2.stop()
    ConnectedPool([dead.endpoints[0], live.endpoints[0]], timeout_ms=300).start()
    with pytest.raises(errors.WorkerUnavailableError, match="no reply"):
        ConnectedPool([dead.endpoints[0]], timeout_ms=300).start()
    with pytest.raises(errors.WorkerUnavailableError, match="no worker host is usable") as e:
        ConnectedPool([dead.endpoints[0], dead2.endpoints[0]], timeout_ms=300).start()
    assert dead.endpoints[0] in str(e.value) and dead2.endpoints[0] in str(e.value)
