"""The league: PFSP over CPU cells and frozen snapshots, Elo, the curriculum's ceiling, snapshots shared by weights."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from sf2rl.cli.main import main as sf2rl_main
from sf2rl.core.config import EnvConfig
from sf2rl.env.environment import SF2Env
from sf2rl.learn.league import League, priority
from sf2rl.learn.league_config import CurriculumConfig, LeagueConfig
from sf2rl.learn.rollout import Rollout
from sf2rl.learn.snapshot import list_snapshots, load_snapshot
from sf2rl.sweep.trainable import member_name

ENV = EnvConfig(action_set="minimal", frame_skip=8, episode="round", max_episode_steps=30,
                characters=("ryu", ["ken", "chunli"]), difficulty=[1, 4, 8])  # fmt: skip


class TinyQ(torch.nn.Module):
    """The part of RLlib's DQN module a snapshot uses: Q-values for a batch, and the action space."""

    def __init__(self, obs: int, actions: int, hidden: int = 8) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(obs, hidden), torch.nn.Linear(hidden, actions))
        self.action_space = gym.spaces.Discrete(actions)

    def compute_q_values(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"qf_preds": self.net(batch["obs"])}


def _module(hidden: int = 8) -> TinyQ:
    env = SF2Env(ENV)
    return TinyQ(int(env.observation_space.shape[0]), int(env.action_space.n), hidden)


def test_members_are_the_cpu_cells_the_env_allows() -> None:
    env = ENV.model_copy(update={"characters": ("ryu", {"ken": 1.0, "chunli": 0.0}), "difficulty": {2: 1.0, 6: 3.0}})
    league = League(env, LeagueConfig(pfsp="uniform"), None, name="t", folder=None)
    assert sorted(league.cpu) == ["cpu-2/ken", "cpu-6/ken"]  # a weight of 0 is no member
    draws = Counter(league.next_match().options["difficulty"] for _ in range(4000))
    assert draws[6] / 4000 == pytest.approx(0.75, abs=0.03)  # 'uniform' PFSP keeps the env's own weights


def test_pfsp_hard_draws_the_opponents_the_learner_loses_to() -> None:
    league = League(ENV, LeagueConfig(pfsp="hard", window=20), None, name="t", folder=None, seed=1)
    for _ in range(20):
        for key in league.cpu:
            league.record(key, won=key != "cpu-8/chunli")  # beats everyone but one cell
    draws = Counter(league.next_match().member for _ in range(3000))
    assert draws.most_common(1)[0][0] == "cpu-8/chunli"
    assert draws["cpu-8/chunli"] / 3000 > 0.7  # (1-0)^2 against the floor's 0.05 for each of the five others
    assert priority(LeagueConfig(pfsp="variance"), 0.5) > priority(LeagueConfig(pfsp="variance"), 0.95)


def test_elo_moves_with_results_and_is_zero_sum() -> None:
    league = League(ENV, LeagueConfig(), None, name="t", folder=None)
    total = league.learner_elo + sum(m.elo for m in league.cpu.values())
    for _ in range(10):
        league.record("cpu-1/ken", won=True)
        league.record("cpu-8/ken", won=False)
    assert league.learner_elo == pytest.approx(total - sum(m.elo for m in league.cpu.values()))
    assert league.cpu["cpu-8/ken"].elo > league.cpu["cpu-1/ken"].elo
    table = league.table()
    assert table[0]["member"] == "cpu-8/ken" and {r["member"] for r in table} >= {"learner", "cpu-4/chunli"}


def test_curriculum_caps_the_levels_and_promotion_raises_the_cap() -> None:
    league = League(ENV, LeagueConfig(), CurriculumConfig(start=1, promote_at=0.8, step=1), name="t", folder=None)
    assert {league.next_match().options["difficulty"] for _ in range(200)} == {1}
    assert not league.promote(0.79) and league.ceiling == 1
    assert league.promote(0.8) and league.ceiling == 4  # the next of the env's levels [1, 4, 8]
    assert {league.next_match().options["difficulty"] for _ in range(300)} == {1, 4}
    assert league.promote(1.0) and league.ceiling == 8 and not league.promote(1.0)  # capped at the top level
    two = League(ENV, LeagueConfig(), CurriculumConfig(start=1, step=2), name="t", folder=None)
    assert two.promote(0.9) and two.ceiling == 8
    assert league.metrics()["level_ceiling"] == 8.0


def test_snapshots_join_play_and_are_shared_by_weights_only(tmp_path: Path) -> None:
    module = _module()
    cfg = LeagueConfig(self_play=0.5, max_snapshots=2, opponent_epsilon=0.0)
    a = League(ENV, cfg, None, name="aaaaa_00000", folder=tmp_path, seed=0)
    b = League(ENV, cfg, None, name="bbbbb_00001", folder=tmp_path, seed=1)
    for it in (10, 20, 30):
        a.freeze(module, it)
    assert sorted(a.snapshots) == ["aaaaa_00000.20", "aaaaa_00000.30"]  # only the newest max_snapshots
    assert [p.name for p in list_snapshots(tmp_path)] == [f"aaaaa_00000-0000{i}0" for i in (1, 2, 3)]
    b.freeze(module, 10)  # b also takes a's newest snapshot, read into a copy of its own module
    assert sorted(b.snapshots) == ["aaaaa_00000.30", "bbbbb_00001.10"]
    snapshot_share = np.mean([b.next_match().opponent is not None for _ in range(2000)])
    assert snapshot_share == pytest.approx(0.5, abs=0.04)
    # The snapshot is frozen: training the live module afterwards does not change how it plays.
    obs = np.random.default_rng(0).uniform(-1, 1, (32, module.net[0].in_features)).astype(np.float32)
    frozen = b.snapshots["bbbbb_00001.10"].policy
    before = [frozen.act(o, None) for o in obs]  # type: ignore[union-attr, arg-type]
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p))
    assert [frozen.act(o, None) for o in obs] == before  # type: ignore[union-attr, arg-type]
    # Another architecture is skipped, not an error; a file that is not a state dict is refused unexecuted.
    wide = League(ENV, cfg, None, name="ccccc_00002", folder=tmp_path)
    wide.freeze(_module(hidden=16), 10)
    assert sorted(wide.snapshots) == ["ccccc_00002.10"]


def test_a_pickled_snapshot_runs_no_code(tmp_path: Path) -> None:
    import pickle

    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.touch, (tmp_path / "pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"w": Boom()}))
    (tmp_path / "evil.json").write_text(json.dumps({"action_set": "minimal"}))
    with pytest.raises(pickle.UnpicklingError):
        load_snapshot(tmp_path / "evil", _module(), "evil", 0.0)
    assert not (tmp_path / "pwned").exists()


def test_the_rollout_plays_whom_the_league_draws_and_reports_back() -> None:
    module = _module()
    league = League(ENV, LeagueConfig(self_play=0.5, opponent_epsilon=0.0), None, name="t", folder=None, seed=3)
    league.freeze(module, 1)
    rollout = Rollout(lambda i: SF2Env(ENV), 2, n_step=1, gamma=0.99, seed=5, league=league)
    seen: set[tuple[str, int, bool]] = set()
    for _ in range(300):
        rollout.send(np.zeros(2, np.int64))
        rollout.receive()
        for env in rollout.envs:
            assert env is not None
            s = env.state
            seen.add((env.game.characters[s.p2.character], 0, env.opponent is not None))
    played = sum(m.episodes for m in [*league.cpu.values(), *league.snapshots.values()])
    assert played >= 15 and league.snapshots["t.1"].episodes > 0  # both kinds of opponent were played
    assert {c for c, _, _ in seen} == {"ken", "chunli"} and {p for _, _, p in seen} == {True, False}
    rollout.close()


def test_member_names_are_tune_trial_ids() -> None:
    assert member_name("trial_a80e4_00001_self_play=0.2") == "a80e4_00001"
    assert member_name("my trial, v2") == "my_trial__v2"


def test_a_league_sweep_records_elo_and_raises_its_curriculum(ray_session: Path, tmp_path: Path, tiny_sweep) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = tiny_sweep(
        tmp_path, "league", uri,
        env={"difficulty": [1, 2, 3], "characters": ["ryu", ["ken", "guile"]]},
        league={"self_play": 0.5, "snapshot_every": 1, "opponent_epsilon": 0.0, "pfsp": "variance"},
        curriculum={"start": 1, "promote_at": 0.01},
        evaluation={"every": 1, "matches": 4, "levels": [1, 2], "opponents": ["ken"], "max_steps": 30},
        search={"metric": "eval_win_rate"},
    )  # fmt: skip
    # A promotion needs one won match, which seconds of training do not guarantee: the ceiling is
    # only bounded here; test_league's unit tests drive promote() itself.
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["sweep", str(path)])
    assert code.value.code == 0
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("league")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`sf2rl.kind` = 'trial'")
    assert len(runs) == 2
    for run in runs:
        m = run.data.metrics
        assert m["league/snapshots"] >= 2  # its own three snapshots, capped, and its peer's newest
        assert any(k.startswith("league/elo/") for k in m) and "league/elo" in m
        assert 1 <= m["league/level_ceiling"] <= 3
    assert len(list_snapshots(next((tmp_path / "runs").glob("league-*")) / "league")) == 6
