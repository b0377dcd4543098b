"""SF2Env: gymnasium conformance, determinism, and the same episode in-process and over ZeroMQ."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from support import require

import sf2rl  # noqa: F401  (registers SF2-v0)
from emulator_worker.protocol import Segment
from sf2rl.core.config import EnvConfig
from sf2rl.core.game.actions import ACTION_SETS
from sf2rl.core.game.spec import Category, GameState, PlayerState
from sf2rl.core.game.specs import get_game
from sf2rl.env.environment import SCALAR_FEATURES, SF2Env, merge_runs, plan_step, ram_feature_size


@pytest.mark.parametrize("obs", ["ram", "pixels"])
@pytest.mark.parametrize("action_set", sorted(ACTION_SETS))
def test_check_env_passes(action_set: str, obs: str) -> None:
    env = SF2Env(EnvConfig(action_set=action_set, obs=obs, pixel_size=32, frame_stack=2))
    check_env(env, skip_render_check=True)
    env.close()


def test_registered_with_gymnasium() -> None:
    env = gym.make("SF2-v0", action_set="minimal", frame_skip=8, difficulty=2)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.action_space.n == len(ACTION_SETS["minimal"])
    env.close()


def _rollout(env: SF2Env, seed: int, steps: int) -> tuple[list[np.ndarray], list[float]]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
        observations.append(obs)
        rewards.append(reward)
        if term or trunc:
            obs, _ = env.reset()
            observations.append(obs)
    return observations, rewards


def test_same_seed_rollouts_are_identical() -> None:
    a, b = SF2Env(), SF2Env()
    oa, ra = _rollout(a, 11, 300)
    ob, rb = _rollout(b, 11, 300)
    assert ra == rb
    assert all(np.array_equal(x, y) for x, y in zip(oa, ob, strict=True))
    _, rc = _rollout(SF2Env(), 12, 300)
    assert rc != ra


def test_env_over_zeromq_matches_in_process(spawn_host) -> None:
    pool = spawn_host(slots=1)
    local = SF2Env(EnvConfig(frame_skip=4))
    remote = SF2Env(EnvConfig(frame_skip=4, backend=pool.endpoints[0]))
    ol, rl = _rollout(local, 5, 400)
    orr, rr = _rollout(remote, 5, 400)
    assert rl == rr
    assert all(np.array_equal(x, y) for x, y in zip(ol, orr, strict=True))
    # Only a remote step has a round trip to report.
    assert remote.step(0)[4]["rtt_ms"] > 0 and "rtt_ms" not in local.step(0)[4]
    remote.close()
    local.close()


def test_final_info_reports_the_outcome() -> None:
    env = SF2Env(EnvConfig(frame_skip=20, action_set="minimal", difficulty=8))
    env.reset(seed=0)
    for _ in range(10_000):
        _, _, term, trunc, info = env.step(0)
        if term or trunc:
            break
    assert term
    assert {"won", "health_left", "rounds_won", "rounds_lost"} <= set(info)
    assert isinstance(info["won"], bool)


def test_gym_make_takes_every_documented_keyword() -> None:
    env = gym.make(
        "SF2-v0", backend="sim", game="sim", difficulty=[2, 3], characters=["ryu", ["ken", "bison"]],
        episode="match", action_set="specials", obs="ram", frame_skip=8, hold_frames=4, reward="shaped",
    )  # fmt: skip
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["difficulty"] in (2, 3)
    env.close()


@pytest.mark.parametrize(("game", "backend", "skips"), [("sim", "sim", True), ("airstriker-genesis", "retro", False)])
def test_reset_skips_an_intro_only_where_the_game_spec_declares_one(game: str, backend: str, skips: bool) -> None:
    # Airstriker's phase field is its game-over flag: 0 there means playing, not an intro to idle through.
    if backend == "retro":
        require("stable_retro")
    chars = {"characters": ("ship", "ship")} if game != "sim" else {}
    env = SF2Env(EnvConfig(game=game, backend=backend, action_set="minimal", **chars))
    try:
        env.reset(seed=0)
        frames = env.console.step((Segment(0, 0, 0),), ((0, 1),), False).frames_run
        assert (frames > 0) == skips
        if skips:
            assert env.state.phase != get_game(game).intro_phase
    finally:
        env.close()


# ------------------------------------------------------------------ the numbers the agent sees and a user reads


def _fighter(**kw: object) -> PlayerState:
    base = {
        "health": 176, "x": 0, "y": 0, "state": 0, "category": Category.IDLE, "character": 0, "rounds_won": 0,
        "round_over": False, "projectile": False, "projectile_x": 0, "stun": 0, "ko": False,
    }  # fmt: skip
    return PlayerState(**{**base, **kw})  # type: ignore[arg-type]


def _state(p1: PlayerState, p2: PlayerState, **kw: object) -> GameState:
    base = {"timer": 99, "phase": 1, "round": 1, "frame": 0, "score": 0, "round_over": False, "match_over": False}
    return GameState(p1=p1, p2=p2, **{**base, **kw})  # type: ignore[arg-type]


def test_ram_features_are_the_documented_table() -> None:
    # The sim: stage 512 wide, 176 health, a 99 s round, two rounds to win, six characters.
    env = SF2Env(EnvConfig())
    me = _fighter(health=88, x=128, y=32, stun=16, projectile=True, projectile_x=256, rounds_won=1,
                  category=Category.ATTACKING, character=2)  # fmt: skip
    op = _fighter(health=44, x=384, y=64, stun=48, projectile=True, projectile_x=0, category=Category.DOWN, character=5,
                  rounds_won=1)  # fmt: skip
    vec = env.ram_features(_state(me, op, timer=33))
    expected = {
        "health": 0.5, "opp_health": 0.25, "x": 0.25, "opp_x": 0.75, "distance": 0.5, "y": 0.25, "opp_y": 0.5,
        "stun": 0.25, "opp_stun": 0.75, "timer": 1 / 3, "projectile": 1.0, "projectile_dx": 0.25,
        "opp_projectile": 1.0, "opp_projectile_dx": -0.25, "rounds": 0.5, "opp_rounds": 0.5, "facing_right": 1.0,
    }  # fmt: skip
    k = len(SCALAR_FEATURES)
    assert dict(zip(SCALAR_FEATURES, vec[:k].tolist(), strict=True)) == pytest.approx(expected)
    one_hot = np.flatnonzero(vec[k:]).tolist()
    n_cat = len(Category)
    assert one_hot == [
        list(Category).index(Category.ATTACKING), n_cat + list(Category).index(Category.DOWN), 2 * n_cat + 2,
        2 * n_cat + 6 + 5,
    ]  # fmt: skip
    assert vec.size == ram_feature_size(get_game("sim")) == k + 2 * n_cat + 12
    # From the other side: the fighters trade places, the distance changes sign, nobody faces right twice.
    flipped = env.ram_features(_state(op, me))
    assert flipped[SCALAR_FEATURES.index("distance")] == -0.5
    assert flipped[SCALAR_FEATURES.index("facing_right")] == 0.0
    assert flipped[SCALAR_FEATURES.index("projectile_dx")] == pytest.approx(-0.75)


def test_ram_features_are_clipped_and_skip_projectiles_that_are_not_there() -> None:
    env = SF2Env(EnvConfig())
    me = _fighter(x=300, y=500, stun=200, projectile=False, projectile_x=400, character=6)
    op = _fighter(x=300, projectile=False, projectile_x=100, character=99)  # ids beyond the table: no one-hot
    vec = env.ram_features(_state(me, op))
    assert vec[SCALAR_FEATURES.index("y")] == 1.0 and vec[SCALAR_FEATURES.index("stun")] == 1.0
    assert vec[SCALAR_FEATURES.index("projectile_dx")] == 0.0 and vec[SCALAR_FEATURES.index("opp_projectile_dx")] == 0.0
    assert vec[SCALAR_FEATURES.index("facing_right")] == 1.0  # level with the opponent counts as facing right
    assert not vec[len(SCALAR_FEATURES) + 2 * len(Category) :].any()
    assert vec.max() == 1.0  # every one-hot reads 1


def test_pixels_are_the_luma_of_an_evenly_spaced_grid() -> None:
    env = SF2Env(EnvConfig(obs="pixels", pixel_size=16, frame_stack=1))
    frame = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    rows, cols = np.linspace(0, 63, 16).astype(int), np.linspace(0, 47, 16).astype(int)
    picked = frame[rows][:, cols].astype(np.float64)
    expected = (0.299 * picked[..., 0] + 0.587 * picked[..., 1] + 0.114 * picked[..., 2]).astype(np.uint8)
    gray = env._gray(frame)
    assert gray.shape == (16, 16) and gray.dtype == np.uint8
    assert np.abs(gray.astype(int) - expected.astype(int)).max() <= 1  # float32 rounding at most
    assert rows[-1] == 63 and cols[-1] == 47  # the grid reaches the far edges


@pytest.mark.parametrize(
    ("options", "beats", "last", "runs", "held"),
    [
        ({"frame_skip": 8}, (5,), 0, [(5, 8)], 5),  # held for the whole step
        ({"frame_skip": 8, "hold_frames": 3}, (5,), 0, [(5, 3), (0, 5)], 0),  # then released
        ({"frame_skip": 8, "reaction_delay": 2}, (5,), 7, [(7, 2), (5, 6)], 5),  # the old input lingers
        ({"frame_skip": 8}, (1, 2, 3), 0, [(1, 2), (2, 2), (3, 4)], 3),  # a motion: beats, then the last held
        ({"frame_skip": 8, "hold_frames": 2}, (1, 2), 0, [(1, 3), (2, 5)], 2),  # two beats are a motion too
        ({"frame_skip": 20}, (1, 2, 3), 0, [(1, 3), (2, 3), (3, 14)], 3),  # at most 3 frames a beat
        ({"frame_skip": 4}, (1, 2, 3, 4, 5), 0, [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)], 5),  # outlasts the step
    ],
)
def test_plan_step_runs(
    options: dict[str, int], beats: tuple[int, ...], last: int, runs: list[tuple[int, int]], held: int
) -> None:
    assert plan_step(EnvConfig(**options), beats, last) == (runs, held)


def test_merge_runs_cuts_where_either_side_changes_and_pads_the_shorter() -> None:
    segs = merge_runs([(1, 3), (0, 1)], [(2, 2), (4, 1)])
    assert segs == (Segment(1, 2, 2), Segment(1, 4, 1), Segment(0, 4, 1))
    assert merge_runs([(1, 1), (3, 1)], [(2, 1), (3, 1), (4, 2)]) == (
        Segment(1, 2, 1), Segment(3, 3, 1), Segment(3, 4, 2),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("episode", "p1", "p2", "round_over", "terminated", "won"),
    [
        ("match", {"rounds_won": 2, "health": 0}, {"rounds_won": 1, "health": 50}, True, True, True),
        ("match", {"rounds_won": 1}, {"rounds_won": 2}, True, True, False),
        ("match", {"rounds_won": 2}, {"rounds_won": 1}, True, False, False),  # truncated: never a win
        ("match", {"rounds_won": 1}, {"rounds_won": 1}, True, True, False),  # level on rounds is no win
        ("round", {"health": 60}, {"health": 10}, True, True, True),
        ("round", {"health": 10}, {"health": 60}, True, True, False),
        ("round", {"health": 30}, {"health": 30}, True, True, False),  # a draw
    ],
)
def test_outcome_says_who_won(
    episode: str, p1: dict[str, int], p2: dict[str, int], round_over: bool, terminated: bool, won: bool
) -> None:
    env = SF2Env(EnvConfig(episode=episode))
    s = _state(_fighter(**p1), _fighter(**p2), round_over=round_over, match_over=terminated)
    out = env._outcome(s, terminated)
    assert out == {
        "won": won, "health_left": s.p1.health, "opponent_health_left": s.p2.health,
        "rounds_won": s.p1.rounds_won, "rounds_lost": s.p2.rounds_won,
    }  # fmt: skip


def test_reset_options_choose_this_matchs_characters_and_difficulty() -> None:
    env = SF2Env(EnvConfig())
    _, info = env.reset(seed=0, options={"characters": ["guile", "bison"], "difficulty": 7})
    assert info == {"characters": (2, 5), "difficulty": 7}
    assert (env.state.p1.character, env.state.p2.character) == (2, 5)
    _, info = env.reset(seed=0)
    assert info == {"characters": (0, 1), "difficulty": 3}
    env.close()


def test_the_seed_and_the_difficulty_reach_the_emulator() -> None:
    # The CPU rolls dice from the env's seed; with the actions held fixed the seed alone must change the match.
    def fixed(seed: int, difficulty: int) -> list[int]:
        env = SF2Env(EnvConfig(frame_skip=4, difficulty=difficulty))
        env.reset(seed=seed)
        trace = []
        for _ in range(300):
            env.step(0)
            trace.append(env.state.p2.x)
        env.close()
        return trace

    assert fixed(1, 3) == fixed(1, 3)
    assert fixed(1, 3) != fixed(2, 3)
    assert fixed(1, 1) != fixed(1, 8)


def test_reward_is_normalized_scaled_and_clipped_as_configured() -> None:
    def rewards(**reward: object) -> list[float]:
        env = SF2Env(EnvConfig(frame_skip=8, difficulty=8, reward={"name": "health_delta", **reward}))
        env.reset(seed=3)
        out, healths = [], []
        for _ in range(400):
            prev = env.state
            _, r, term, trunc, _ = env.step(0)
            curr = env.state
            out.append(r)
            healths.append((curr.p1.health - prev.p1.health) - (curr.p2.health - prev.p2.health))
            if term or trunc:
                break
        env.close()
        return out, healths  # type: ignore[return-value]

    raw, deltas = rewards(normalize=False)
    assert any(deltas) and raw == pytest.approx([float(d) for d in deltas])
    norm, _ = rewards()
    assert norm == pytest.approx([d / 176 for d in deltas])
    scaled, _ = rewards(scale=2.0)
    assert scaled == pytest.approx([2 * d / 176 for d in deltas])
    clipped, _ = rewards(normalize=False, clip=1.0)
    assert clipped == pytest.approx([max(-1.0, min(1.0, d)) for d in deltas])


def test_info_counts_frames_and_pixels_keep_their_stack() -> None:
    env = SF2Env(EnvConfig(frame_skip=6, obs="pixels", pixel_size=32, frame_stack=3))
    first, _ = env.reset(seed=0)
    assert first.shape == (32, 32, 3)
    assert all(np.array_equal(first[..., 0], first[..., k]) for k in (1, 2))  # the reset frame, stacked
    for i in range(1, 6):
        obs, _, _, _, info = env.step(1)
        assert info["frames"] == 6 * i
        assert obs.shape == (32, 32, 3)
        assert np.array_equal(obs[..., 0], first[..., 0]) == (i < 3)  # the oldest frame leaves after 3 steps
    assert not np.array_equal(obs[..., -1], first[..., -1])  # walking forward shows on screen
    env.reset(seed=0)
    _, _, _, _, info = env.step(1)
    assert info["frames"] == 6
    env.close()


class _Recorder:
    """A player-2 policy that records what it was shown and plays a fixed action."""

    name, action_set, needs_ram = "recorder", "minimal", 0

    def __init__(self, action: int = 0) -> None:
        self.action = action
        self.seen: list[tuple[np.ndarray, GameState, int]] = []
        self.seeds: list[int | None] = []

    def reset(self, seed: int | None = None) -> None:
        self.seeds.append(seed)

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        self.seen.append((obs, state, player))
        return self.action


def test_player_two_sees_the_match_from_its_own_side() -> None:
    rec = _Recorder(action=1)
    env = SF2Env(EnvConfig(frame_skip=4, opponent="noop"), opponent=rec)
    env.reset(seed=0)
    before = env.state
    env.step(0)
    obs, state, player = rec.seen[-1]
    assert state == before.swapped() and player == 1
    assert np.array_equal(obs, env.ram_features(before.swapped()))
    assert env.opponent_action == 1
    assert rec.seeds and isinstance(rec.seeds[0], int)
    env.close()


def test_an_opponent_action_out_of_range_is_refused() -> None:
    rec = _Recorder(action=len(ACTION_SETS["minimal"]))
    env = SF2Env(EnvConfig(opponent="noop"), opponent=rec)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside"):
        env.step(0)
    env.close()


@pytest.mark.parametrize("episode", ["match", "round"])
def test_walking_in_and_punching_a_still_opponent_wins(episode: str) -> None:
    # Positive control for `won` at the env: a player 2 that never moves loses to forward + heavy punch.
    env = SF2Env(EnvConfig(frame_skip=8, action_set="minimal", episode=episode, opponent="noop"), opponent=_Recorder())
    obs, _ = env.reset(seed=0)
    for _ in range(5_000):
        action = 1 if abs(obs[SCALAR_FEATURES.index("distance")]) > 0.08 else 7
        obs, _, term, trunc, info = env.step(action)
        if term or trunc:
            break
    env.close()
    assert term and info["won"] is True
    assert (info["rounds_won"], info["rounds_lost"]) == ((2, 0) if episode == "match" else (1, 0))
    assert info["opponent_health_left"] <= 0 < info["health_left"]
