"""In-trial greedy evaluation: whole matches against the CPU, counted like `sf2rl eval` counts them."""

from __future__ import annotations

import numpy as np
import pytest

from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import WorkerUnavailableError
from sf2rl.env.environment import SF2Env
from sf2rl.sweep.evaluator import EvalResult, Evaluator, eval_config

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
