"""The stable-retro backend for real, on the Airstriker ROM that ships with stable-retro.

stable-retro allows one emulator per process: every test here closes its backend
before the next one opens, and the worker-host test runs its emulator in a child process.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support import require

from emulator_worker import protocol as p
from emulator_worker.backends import BackendUnavailable, ResetOptions, create_backend
from emulator_worker.backends.retro import RetroBackend, word_swap
from sf2rl.core.game.spec import Decoder
from sf2rl.core.game.specs import AIRSTRIKER_GENESIS
from sf2rl.transport.client import EmulatorClient

require("stable_retro")  # a skip here, a failure under CI=true

GAME = "Airstriker-Genesis-v0"
DECODER = Decoder(AIRSTRIKER_GENESIS)
RAM_BASE = AIRSTRIKER_GENESIS.ram_base


def _masks(seed: int, n: int) -> list[int]:
    return [int(m) for m in np.random.default_rng(seed).integers(0, 1 << 12, n)]


def _ranges(ram: np.ndarray) -> bytes:
    return b"".join(ram[a : a + n].tobytes() for a, n in DECODER.ranges)


@pytest.fixture
def backend() -> Iterator[RetroBackend]:
    b = RetroBackend(GAME)
    try:
        yield b
    finally:
        b.close()


def test_buttons_and_screen(backend: RetroBackend) -> None:
    assert backend.buttons == ("B", "A", "MODE", "START", "UP", "DOWN", "LEFT", "RIGHT", "C", "Y", "X", "Z")
    backend.reset(ResetOptions())
    assert backend.frame().shape == (224, 320, 3)
    assert backend.ram().shape == (0x10000,)


def test_spec_decodes_ram_exactly_like_stable_retros_data_json(backend: RetroBackend) -> None:
    backend.reset(ResetOptions())
    seen = set()
    for mask in _masks(1, 500):
        backend.step(mask, 0, 4)
        values = DECODER.values(_ranges(backend.ram()))
        truth = backend._env.data.lookup_all()
        assert (values["p1_health"], values["score"], values["phase"]) == (
            truth["lives"],
            truth["score"],
            truth["gameover"],
        )
        seen.add((values["p1_health"], values["score"]))
    assert len(seen) > 3, "the episode should change lives and score"


def test_ram_is_in_the_68000s_byte_order(backend: RetroBackend) -> None:
    # stable-retro stores Genesis RAM as little-endian words; ram() reads byte N at address rambase + N.
    assert word_swap(["=", ">", 2], "little") == 2 and word_swap(["=", ">", 2], "big") == 1 and word_swap(None) == 1
    backend.reset(ResetOptions())
    for mask in _masks(2, 60):
        backend.step(mask, 0, 4)
    ram = backend.ram()
    addrs = [int(a) for a in np.flatnonzero(ram)[:12]]
    assert any(a % 2 for a in addrs) and any(a % 2 == 0 for a in addrs)
    data = backend._env.data
    for a in addrs:
        data.set_variable(f"byte{a}", {"address": RAM_BASE + a, "type": "|u1"})
    truth = data.lookup_all()
    assert [int(ram[a]) for a in addrs] == [truth[f"byte{a}"] for a in addrs]


def test_reset_and_step_are_what_retro_env_does(backend: RetroBackend) -> None:
    env = backend._env
    masks = _masks(3, 300)
    backend.reset(ResetOptions())
    for m in masks:
        backend.step(m, 0, 1)
    ours = backend.ram()
    env.reset()  # stable-retro's own reset: default state, pads released, one frame
    for m in masks:
        env.step(np.array([(m >> i) & 1 for i in range(12)], np.uint8))
    assert np.array_equal(ours, backend.ram())


def test_save_load_state_round_trip_is_exact(backend: RetroBackend) -> None:
    backend.reset(ResetOptions())
    for m in _masks(4, 50):
        backend.step(m, 0, 4)
    state = backend.save_state()
    ram_at_save = backend.ram()
    later = _masks(5, 80)
    for m in later:
        backend.step(m, 0, 4)
    first = backend.ram()
    backend.load_state(state)
    assert np.array_equal(backend.ram(), ram_at_save)
    for m in later:
        backend.step(m, 0, 4)
    assert np.array_equal(backend.ram(), first)
    # Not asserted: equal state *bytes*. Genesis Plus GX's state buffer can carry uninitialised padding
    # (heap garbage) from one get_state() to the next; what a state restores is exact, as shown above.


@pytest.mark.parametrize("bad", [b"", b"garbage", b"GENPLUS-GX 1.7.5" + bytes(64)])
def test_bad_state_bytes_raise_and_leave_the_emulator_unchanged(backend: RetroBackend, bad: bytes) -> None:
    backend.reset(ResetOptions())
    backend.step(0x80, 0, 30)
    before, state = backend.ram(), backend.save_state()
    with pytest.raises(ValueError, match="rejected"):
        backend.load_state(bad)
    assert np.array_equal(backend.ram(), before)
    backend.step(0x10, 0, 60)
    after_failed_load = backend.ram()
    backend.load_state(state)
    backend.step(0x10, 0, 60)
    assert np.array_equal(backend.ram(), after_failed_load)


def test_reset_from_named_states(backend: RetroBackend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    backend.reset(ResetOptions(state="Level1"))  # one of the game's stable-retro states
    level1 = backend.ram()
    for m in _masks(6, 40):
        backend.step(m, 0, 4)
    state, ram = backend.save_state(), backend.ram()
    (tmp_path / "raw.state").write_bytes(state)
    (tmp_path / "zipped.state").write_bytes(gzip.compress(state))  # stable-retro's own format
    backend.states_dir = tmp_path
    for name in ("raw", "zipped.state"):
        backend.reset(ResetOptions(state=name))
        backend.load_state(state)  # reset runs one frame after loading, as stable-retro does
        assert np.array_equal(backend.ram(), ram)
    backend.reset(ResetOptions())
    assert np.array_equal(backend.ram(), level1)  # the game's default state is Level1
    with pytest.raises(ValueError, match="inside"):
        backend.reset(ResetOptions(state="../escape"))
    with pytest.raises(ValueError, match="Level1"):
        backend.reset(ResetOptions(state="no-such-state"))
    with pytest.raises(ValueError, match="players=2"):
        backend.reset(ResetOptions(two_player=True))
    with pytest.raises(ValueError, match="outside"):
        backend.step(1 << 12, 0, 1)


def test_a_state_name_cannot_climb_out_of_the_games_own_states(backend: RetroBackend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Without a states_dir the name is looked up among the game's stable-retro states; joined into
    # stable-retro's data folder as given, ../ would reach any .state file on the host.
    backend.reset(ResetOptions(state="Level1"))
    (tmp_path / "elsewhere.state").write_bytes(gzip.compress(backend.save_state()))
    game_dir = Path(
        backend._retro.data.get_file_path(backend.game, "Level1.state", backend._retro.data.Integrations.ALL)
    ).parent
    climb = os.path.relpath(tmp_path / "elsewhere", game_dir)
    assert (game_dir / f"{climb}.state").resolve().is_file()  # the file is really there to be read
    backend.states_dir = None
    with pytest.raises(ValueError, match="Level1"):
        backend.reset(ResetOptions(state=climb))


def test_missing_rom_and_unknown_game_say_what_to_do() -> None:
    with pytest.raises(BackendUnavailable, match=r"python -m stable_retro\.import"):
        create_backend("retro", game="StreetFighterIISpecialChampionEdition-Genesis-v0")
    with pytest.raises(BackendUnavailable, match="close matches"):
        create_backend("retro", game="Airstriker-Genesis-v9")


def test_through_emulator_worker_serve_over_zeromq(spawn_host) -> None:  # type: ignore[no-untyped-def]
    pool = spawn_host("retro", game=GAME)
    masks = _masks(7, 150)
    with EmulatorClient(pool.endpoints[0], timeout_ms=20000) as client:
        info = client.hello()
        assert info.backend == "retro" and info.buttons[:4] == ("B", "A", "MODE", "START")
        client.lease(1, ttl=30)
        first = client.reset(0, ram_ranges=DECODER.ranges)
        start = DECODER.decode(first.ram)
        assert start.p1.health == 3 and start.score == 0
        remote = []
        for m in masks:
            obs = client.step(0, (p.Segment(m, 0, 2), p.Segment(0, 0, 2)), ram_ranges=DECODER.ranges)
            remote.append(obs.ram)
        state = client.save_state(0)
        after = [client.step(0, (p.Segment(m, 0, 4),), ram_ranges=DECODER.ranges).ram for m in masks[:40]]
        client.load_state(0, state)
        again = [client.step(0, (p.Segment(m, 0, 4),), ram_ranges=DECODER.ranges).ram for m in masks[:40]]
        assert again == after
        frame = client.frame(0)
        assert frame.shape == (224, 320, 3)
    # The same inputs in this process give the same RAM, byte for byte.
    local = RetroBackend(GAME)
    try:
        local.reset(ResetOptions())
        assert _ranges(local.ram()) == first.ram
        for m, want in zip(masks, remote, strict=True):
            local.step(m, 0, 2)
            local.step(0, 0, 2)
            assert _ranges(local.ram()) == want
    finally:
        local.close()
    assert len({DECODER.decode(r).score for r in remote}) > 1


def test_sf2env_on_retro_passes_gymnasiums_env_checker() -> None:
    from gymnasium.utils.env_checker import check_env

    from sf2rl.env.environment import SF2Env

    env = SF2Env(game="airstriker-genesis", backend="retro", characters=("ship", "ship"), action_set="minimal")
    try:
        check_env(env, skip_render_check=True)
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
        total, steps, done = 0.0, 0, False
        while not done and steps < 3000:
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += reward
            steps += 1
            done = terminated or truncated
        # The spec's phase is data.json's "gameover": 9 while the ship flies, 0-1-2 while it explodes;
        # phase 1 ends the match, so an episode lasts until the first explosion.
        assert done and env.state is not None and env.state.phase == 1 and steps > 10
    finally:
        env.close()
