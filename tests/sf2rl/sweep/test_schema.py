"""Sweep files: every kind of mistake is one line naming its key path, and exit code 2 before Ray starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sf2rl.cli.main import main as sf2rl_main
from sf2rl.sweep.schema import load_sweep

GOOD = {"name": "ok", "space": {"dqn.lr": {"loguniform": [1e-4, 1e-2]}}}

BAD: list[tuple[str, object, str]] = [
    ("unknown top-level key", {**GOOD, "learning_rate": 1}, "learning_rate: unknown key"),
    ("unknown env key", {**GOOD, "env": {"frameskip": 4}}, "env.frameskip: unknown key"),
    ("unknown nested key", {**GOOD, "dqn": {"epsilon": {"start": 1}}}, "dqn.epsilon.start: unknown key"),
    ("wrong type", {**GOOD, "dqn": {"lr": "fast"}}, "dqn.lr"),
    ("negative frame skip", {**GOOD, "env": {"frame_skip": 0}}, "env.frame_skip"),
    ("unknown reward", {**GOOD, "env": {"reward": {"name": "vibes"}}}, "unknown reward 'vibes'"),
    (
        "unknown reward parameter",
        {**GOOD, "env": {"reward": {"name": "fight", "params": {"ko_bonus": 1.0}}}},
        "env.reward: reward 'fight' takes no parameter ko_bonus",
    ),
    (
        "unknown swept reward parameter",
        {**GOOD, "env": {"reward": {"name": "fight"}}, "space": {"env.reward.params.ko": {"grid": [1.0]}}},
        "space.env.reward.params.ko: value 1.0 is invalid",
    ),
    ("unknown action set", {**GOOD, "env": {"action_set": "all"}}, "unknown action set 'all'"),
    ("unknown obs", {**GOOD, "env": {"obs": "audio"}}, "env.obs"),
    ("unknown game", {**GOOD, "env": {"game": "tekken"}}, "unknown game 'tekken'"),
    ("difficulty out of range", {**GOOD, "env": {"difficulty": 9}}, "CPU level from 1 to 8"),
    ("unknown character", {**GOOD, "env": {"characters": ["ryu", "akuma"]}}, "unknown character 'akuma'"),
    ("empty level list", {**GOOD, "env": {"difficulty": []}}, "env.difficulty: difficulty: an empty list"),
    (
        "level weights summing to 0",
        {**GOOD, "env": {"difficulty": {3: 0, 4: 0}}},
        "env.difficulty: difficulty: weights",
    ),
    ("negative level weight", {**GOOD, "env": {"difficulty": {3: -1, 4: 2}}}, "non-negative"),
    ("level out of range in weights", {**GOOD, "env": {"difficulty": {9: 1}}}, "env.difficulty: difficulty must be"),
    ("empty character list", {**GOOD, "env": {"characters": ["ryu", []]}}, "env.characters: characters.1 (opponent)"),
    (
        "unknown weighted character",
        {**GOOD, "env": {"characters": [{"ryu": 1, "akuma": 2}, "ken"]}},
        "env.characters: characters.0 (agent): unknown character 'akuma'",
    ),
    ("character weights summing to 0", {**GOOD, "env": {"characters": ["ryu", {"ken": 0}]}}, "sum to a positive"),
    ("league share of 1", {**GOOD, "league": {"self_play": 1.0}}, "league.self_play"),
    ("unknown pfsp", {**GOOD, "league": {"pfsp": "greedy"}}, "league.pfsp"),
    ("curriculum without evaluation", {**GOOD, "curriculum": {"start": 2}}, "curriculum: promotions follow"),
    (
        "curriculum above every level",
        {**GOOD, "env": {"difficulty": [1, 2]}, "curriculum": {"start": 5}, "evaluation": {"every": 1}},
        "curriculum.start: 5 is above every level",
    ),
    ("league with a fixed opponent", {**GOOD, "env": {"opponent": "heuristic"}, "league": {}}, "league: the league"),
    ("swept league key without a league", {**GOOD, "space": {"league.pfsp": {"grid": ["hard"]}}}, "no league section"),
    (
        "bad swept league value",
        {**GOOD, "league": {}, "space": {"league.self_play": {"grid": [2]}}},
        "league.self_play",
    ),
    ("unknown eval opponent", {**GOOD, "evaluation": {"every": 1, "opponents": ["dan"]}}, "evaluation.opponents.0"),
    ("eval level out of range", {**GOOD, "evaluation": {"every": 1, "levels": [0]}}, "evaluation.levels"),
    ("hold longer than step", {**GOOD, "env": {"frame_skip": 4, "hold_frames": 8}}, "hold_frames (8)"),
    ("empty search space entry", {**GOOD, "space": {"dqn.lr": {}}}, "space.dqn.lr"),
    ("empty grid", {**GOOD, "space": {"dqn.lr": {"grid": []}}}, "space.dqn.lr.grid"),
    ("two distributions", {**GOOD, "space": {"dqn.lr": {"grid": [1e-3], "choice": [1e-3]}}}, "exactly one"),
    ("inverted bounds", {**GOOD, "space": {"dqn.lr": {"uniform": [0.1, 0.01]}}}, "low < high"),
    ("loguniform at zero", {**GOOD, "space": {"dqn.lr": {"loguniform": [0, 0.1]}}}, "low > 0"),
    (
        "space key not sweepable",
        {**GOOD, "space": {"pool.slots": {"grid": [1, 2]}}},
        "must be 'seed' or start with one of",
    ),
    ("space key unknown", {**GOOD, "space": {"dqn.learning_rate": {"grid": [0.1]}}}, "unknown option"),
    ("space value invalid", {**GOOD, "space": {"env.frame_skip": {"grid": [4, -1]}}}, "value -1 is invalid"),
    (
        "grid with optuna",
        {**GOOD, "search": {"algorithm": "optuna"}, "space": {"dqn.lr": {"grid": [0.1]}}},
        "optuna cannot search a grid",
    ),
    ("bad scheduler", {**GOOD, "scheduler": {"type": "hyperband"}}, "scheduler.type"),
    ("no stop criterion", {**GOOD, "stop": {"training_iteration": None}}, "stop: a trial with no stop criterion"),
    ("pbt without mutations", {**GOOD, "scheduler": {"type": "pbt"}}, "PBT needs"),
    (
        "pbt mutating an env key",
        {**GOOD, "scheduler": {"type": "pbt", "mutations": {"env.frame_skip": [4]}}},
        "dqn.* or league.* key",
    ),
    (
        "pbt mutating a league with none",
        {**GOOD, "scheduler": {"type": "pbt", "mutations": {"league.self_play": [0.2]}}},
        "scheduler.mutations.league.self_play",
    ),
    ("connect without endpoints", {**GOOD, "pool": {"mode": "connect"}}, "needs at least one entry in endpoints"),
    (
        "retro inline",
        {**GOOD, "pool": {"backend": "retro", "mode": "inline"}},
        "mode inline: the retro backend runs one game per process; use spawn",
    ),
    ("slots of an inline pool", {**GOOD, "pool": {"slots": 3}}, "slots is only used in spawn mode"),
    (
        "games per instance of an inline pool",
        {**GOOD, "pool": {"games_per_instance": 2}},
        "games_per_instance is only used in spawn mode",
    ),
    (
        "several retro games per process",
        {**GOOD, "pool": {"backend": "retro", "games_per_instance": 2}},
        "the retro backend runs one game per process",
    ),
    (
        "eval metric without evaluation",
        {**GOOD, "search": {"metric": "eval_win_rate"}},
        "needs evaluation.every above 0",
    ),
    (
        "evaluation on the stock loop",
        {**GOOD, "dqn": {"loop": "rllib"}, "evaluation": {"every": 2}},
        "evaluation.every: in-trial evaluation runs in dqn.loop 'sf2rl'",
    ),
    ("evaluation level out of range", {**GOOD, "evaluation": {"every": 2, "difficulty": 9}}, "evaluation.difficulty"),
    ("bad mode", {**GOOD, "search": {"mode": "best"}}, "search.mode"),
    (
        "remote env runners with sf2rl's loop",
        {**GOOD, "resources": {"env_runners": 2}},
        "resources.env_runners: dqn.loop 'sf2rl'",
    ),
    ("unknown training loop", {**GOOD, "dqn": {"loop": "fast"}}, "dqn.loop"),
    ("zero torch threads", {**GOOD, "resources": {"torch_threads": 0}}, "resources.torch_threads"),
    ("retries below -1", {**GOOD, "failure": {"max_retries": -2}}, "failure.max_retries"),
    ("unknown failure key", {**GOOD, "failure": {"retries": 3}}, "failure.retries"),
    ("custom resource named CPU", {**GOOD, "resources": {"custom": {"CPU": 1}}}, "resources.custom"),
    ("custom resource of zero", {**GOOD, "resources": {"custom": {"lab_node": 0}}}, "give a named resource"),
    ("bad name", {**GOOD, "name": "my sweep!"}, "name"),
    (
        "samples of a grid-only space",
        {"name": "ok", "space": {"dqn.lr": {"grid": [1e-3]}}, "search": {"num_samples": 2}},
        "identical trials; for replicates sweep the seed",
    ),
    ("samples of no space", {"name": "ok", "search": {"num_samples": 3}}, "search.num_samples: 3 samples"),
    ("a float seed", {"name": "ok", "space": {"seed": {"uniform": [0, 9]}}}, "space.seed: seeds are integers"),
    ("a dotless key", {"name": "ok", "space": {"lr": {"grid": [1e-3]}}}, "space key 'lr' must be 'seed' or start"),
    ("not a mapping", ["name", "x"], "a sweep file is a mapping"),
]


@pytest.mark.parametrize(("case", "content", "expected"), BAD, ids=[c for c, _, _ in BAD])
def test_bad_sweep_files_exit_2_with_key_path(
    tmp_path: Path, capsys, case: str, content: object, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["validate", str(path)])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1, err


def test_invalid_yaml_and_missing_file(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    for path, expected in ((bad, "not valid YAML"), (tmp_path / "absent.yaml", "no such sweep file")):
        with pytest.raises(SystemExit) as code:
            sf2rl_main(["validate", str(path)])
        assert code.value.code == 2
        assert expected in capsys.readouterr().err


def test_stop_criteria_use_the_keys_a_trial_reports() -> None:
    from sf2rl.sweep.schema import StopConfig

    assert StopConfig(training_iteration=None, timesteps_total=500, time_total_s=9.0).criteria() == {
        "env_steps_total": 500, "time_total_s": 9.0}  # fmt: skip
    assert StopConfig().criteria() == {"training_iteration": 20}


def test_pbt_mutates_league_keys_of_a_league_sweep() -> None:
    from sf2rl.sweep.schema import SweepConfig

    sweep = SweepConfig(name="p", league={}, scheduler={"type": "pbt", "mutations": {"league.self_play": [0.0, 0.3]}})
    assert sweep.scheduler.mutations == {"league.self_play": [0.0, 0.3]}


def test_unreadable_sweep_files_exit_2_in_one_line(tmp_path: Path, capsys) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    numbered = tmp_path / "numbered.yaml"
    numbered.write_text("name: x\n1: y\n")
    cases = ((tmp_path, "is a folder"), (latin, "not UTF-8"), (numbered, "1: keys are names"))
    for path, expected in cases:
        with pytest.raises(SystemExit) as code:
            sf2rl_main(["validate", str(path)])
        assert code.value.code == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err


def test_bad_file_stops_sweep_before_ray_starts(tmp_path: Path) -> None:
    import ray

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "dqn": {"lr": -1}}))
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["sweep", str(path)])
    assert code.value.code == 2
    assert not ray.is_initialized()


ROOT = Path(__file__).parents[3]


@pytest.mark.parametrize(
    "path", sorted([*ROOT.joinpath("sweeps").glob("*.yaml"), *ROOT.joinpath("bench/sweeps").glob("*.yaml")])
)
def test_shipped_sweeps_are_valid(path: Path) -> None:
    assert load_sweep(path).name


@pytest.mark.parametrize(("backend", "mode"), [("sim", "inline"), ("retro", "spawn"), ("bizhawk", "spawn")])
def test_pool_mode_defaults_to_inline_where_the_backend_runs_several_games_per_process(backend: str, mode: str) -> None:
    from sf2rl.sweep.schema import SweepConfig

    assert SweepConfig(name="d", pool={"backend": backend}).pool.mode == mode


def test_a_swept_seed_is_the_trials_own_and_no_section_option() -> None:
    from sf2rl.sweep.schema import SweepConfig, trial_options, trial_sweep

    sweep = SweepConfig(name="replicates", seed=5, space={"seed": {"grid": [5, 6]}})
    assert trial_sweep(sweep, {"seed": 6, "dqn.lr": 0.01}).seed == 6
    assert trial_sweep(sweep, {"dqn.lr": 0.01}) is sweep
    _, dqn, _ = trial_options(sweep, {"seed": 6, "dqn.lr": 0.01})
    assert dqn.lr == 0.01
