"""In-trial greedy evaluation: whole matches against the CPU, counted like `sf2rl eval` counts them."""

from __future__ import annotations

import numpy as np
import pytest

from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import WorkerUnavailableError
from sf2rl.env.environment import SF2Env
from sf2rl.learn.evaluator import EvalResult, Evaluator, eval_config

TRAIN = EnvConfig(action_set="minimal", frame_skip=8, episode="round", difficulty=[1, 2], max_episode_steps=40)


def _noop(obs: np.ndarray) -> np.ndarray:
    return np.zeros(len(obs), np.int64)


def test_eval_config_plays_whole_matches_against_the_cpu() -> None:
    cfg = eval_config(TRAIN.model_copy(update={"opponent": "heuristic"}), difficulty=3, max_steps=500)
    assert (cfg.episode, cfg.opponent, cfg.difficulty, cfg.max_episode_steps) == ("match", "cpu", 3, 500)
    assert cfg.frame_skip == 8 and cfg.action_set == "minimal"  # the agent's own view of the game
    assert eval_config(TRAIN, None, 500).difficulty == [1, 2]


def test_evaluator_plays_exactly_the_matches_asked_and_repeats_itself() -> None:
    cfg = eval_config(TRAIN, difficulty=8, max_steps=100_000)
    results = []
    for _ in range(2):
        ev = Evaluator(lambda i: SF2Env(cfg), num_envs=2, seed=11)
        results.append(ev.run(_noop, matches=3))
        ev.close()
    r = results[0]
    assert r.matches == 3 and r.wins == 0  # a motionless agent does not beat level 8
    assert r.rounds_lost >= 2 * 3 and r.steps > 3 * 100
    assert results[0] == results[1]  # same seeds, same matches
    assert r.win_rate == 0.0


def test_fewer_matches_than_envs_uses_only_what_it_needs() -> None:
    ev = Evaluator(lambda i: SF2Env(eval_config(TRAIN, 1, 30)), num_envs=3, seed=0)
    r = ev.run(_noop, matches=1)
    assert r.matches == 1 and r.steps == 30  # truncated at max_steps: played, not won
    ev.close()


def test_a_lost_emulator_fails_one_evaluation_and_the_next_starts_fresh(spawn_host) -> None:
    pool = spawn_host(slots=1)
    # A short timeout, so that the lost host is noticed in about a second, not the default half-minute.
    quick = {"backend": pool.endpoints[0], "worker": TRAIN.worker.model_copy(update={"timeout_ms": 500, "retries": 1})}
    cfg = eval_config(TRAIN.model_copy(update=quick), 1, 30)
    made: list[SF2Env] = []

    def make(i: int) -> SF2Env:
        made.append(SF2Env(cfg))
        return made[-1]

    ev = Evaluator(make, num_envs=1, seed=0)
    assert ev.run(_noop, matches=1).matches == 1
    pool.stop()
    with pytest.raises(WorkerUnavailableError):
        ev.run(_noop, matches=1)
    assert ev.envs == [] and len(made) == 1  # closed, so the next round builds (and leases) anew


def _walk_in_and_punch(obs: np.ndarray) -> np.ndarray:
    """Scripted from the RAM features alone: walk at the opponent, heavy punch when close (minimal actions)."""
    distance = np.abs(obs[:, 4])  # (opponent x - own x) / stage width
    return np.where(distance > 0.08, 1, 7).astype(np.int64)  # 1: forward, 7: heavy punch


def test_a_winning_agent_is_counted_as_winning() -> None:
    # Positive control for the win count: against a player 2 that never moves, walking in and punching wins.
    from sf2rl.agents.factory import make_env

    cfg = eval_config(TRAIN, difficulty=1, max_steps=3000).model_copy(update={"opponent": "noop"})
    ev = Evaluator(lambda i: make_env(cfg), num_envs=2, seed=3)
    r = ev.run(_walk_in_and_punch, matches=3)
    ev.close()
    assert (r.matches, r.wins, r.rounds_won, r.rounds_lost) == (3, 3, 6, 0)
    assert r.win_rate == 1.0


def test_matrix_cells_are_played_in_turn_and_counted_per_level() -> None:
    cfg = eval_config(TRAIN, difficulty=1, max_steps=60)
    cells = [(1, "ryu", "ken"), (8, "ryu", "guile")]
    ev = Evaluator(lambda i: SF2Env(cfg), num_envs=2, seed=0, cells=cells)
    r = ev.run(_noop, matches=5)
    ev.close()
    assert r.by_level == {1: (3, 0), 8: (2, 0)}  # match k plays cell k mod 2
    assert r.win_rate_up_to(1) == 0.0 and np.isnan(EvalResult(0, 0, 0, 0, 0, {}).win_rate_up_to(3))


def test_win_rate_up_to_a_level_pools_the_levels_at_or_below_it() -> None:
    r = EvalResult(6, 3, 6, 6, 600, by_level={1: (2, 2), 3: (2, 1), 8: (2, 0)})
    assert (r.win_rate_up_to(1), r.win_rate_up_to(3), r.win_rate_up_to(8)) == (1.0, 0.75, 0.5)
    assert r.win_rate_up_to(2) == 1.0 and np.isnan(r.win_rate_up_to(0))
    assert EvalResult(4, 1, 2, 6, 100).win_rate_up_to(1) == 0.25  # one level: the plain win rate


class _Scripted:
    """An env whose matches last ``3 + k`` steps (k: its reset count) and are won below CPU level 4."""

    def __init__(self, index: int, log: list[tuple[int, int | None, dict | None]]) -> None:
        self.index, self.log, self.left, self.level = index, log, 0, 0
        self.resets = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self.log.append((self.index, seed, options))
        self.level = (options or {}).get("difficulty", 3)
        self.left = 3 + self.resets
        self.resets += 1
        return np.full(2, float(self.index)), {}

    def step_async(self, action: int) -> None:
        self.log.append((self.index, -1, {"action": action}))
        self.left -= 1

    def step_wait(self) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.left > 0:
            return np.full(2, float(self.index)), 0.0, False, False, {}
        won = self.level < 4
        return np.zeros(2), 0.0, True, False, {"won": won, "rounds_won": 2 * won, "rounds_lost": 2 - 2 * won}

    def close(self) -> None:
        pass


def test_matches_get_their_own_seed_and_cell_and_are_counted_per_level() -> None:
    log: list[tuple[int, int | None, dict | None]] = []
    cells = [(1, "ryu", "ken"), (8, "ryu", "guile")]
    ev = Evaluator(lambda i: _Scripted(i, log), num_envs=2, seed=100, cells=cells)  # type: ignore[arg-type,return-value]
    seen: list[np.ndarray] = []

    def act(obs: np.ndarray) -> np.ndarray:
        seen.append(obs)
        return np.arange(len(obs), dtype=np.int64) + 5

    r = ev.run(act, matches=5)
    resets = [(i, seed, opts) for i, seed, opts in log if seed != -1]
    assert sorted(seed for _, seed, _ in resets) == [100, 101, 102, 103, 104]
    for _, seed, opts in resets:
        level, agent, opp = cells[(seed - 100) % 2]
        assert opts == {"difficulty": level, "characters": (agent, opp)}
    assert {i for i, _, _ in resets} == {0, 1}  # make_env(i) built one env per index
    # Matches 0, 2, 4 are at level 1 (won), 1 and 3 at level 8 (lost).
    assert (r.matches, r.wins, r.rounds_won, r.rounds_lost) == (5, 3, 6, 4)
    assert r.by_level == {1: (3, 3), 8: (2, 0)} and r.win_rate_up_to(1) == 1.0
    assert seen[0].shape == (2, 2) and {a["action"] for _, s, a in log if s == -1} <= {5, 6}
    assert r.steps == sum(1 for _, s, _ in log if s == -1)
    # Without cells: the env's own options, seeds still 100 + k, no per-level table.
    log.clear()
    r = Evaluator(lambda i: _Scripted(i, log), num_envs=1, seed=7).run(act, matches=2)  # type: ignore[arg-type,return-value]
    assert [(seed, opts) for _, seed, opts in log if seed != -1] == [(7, None), (8, None)]
    assert r.by_level is None and (r.matches, r.wins) == (2, 2)
    ev.close()


def test_a_policy_that_answers_for_the_wrong_number_of_envs_is_an_error() -> None:
    ev = Evaluator(lambda i: _Scripted(i, []), num_envs=2, seed=0)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError):
        ev.run(lambda obs: np.zeros(1, np.int64), matches=2)
