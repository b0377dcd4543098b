"""Policies: every baseline plays, scripted masks map onto action sets, checkpoints load and are cross-checked."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from support import save_module

from sf2rl.agents.baselines import MaskMapper
from sf2rl.agents.checkpoint import (
    MODULE_SUBDIR,
    CheckpointPolicy,
    RefreshingPolicy,
    newest_checkpoint,
    resolve_checkpoint,
)
from sf2rl.agents.export import EXPORT_DIR
from sf2rl.agents.factory import load_policy
from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import CheckpointError, ConfigError
from sf2rl.core.game.actions import ActionEncoder, get_action_set
from sf2rl.core.game.specs import SNES_BUTTONS
from sf2rl.env.environment import SF2Env


def save_algorithm_layout(root: Path, cfg: EnvConfig) -> Path:
    """A module placed where an algorithm checkpoint keeps it, as Tune writes them into a trial folder."""
    save_module(root / MODULE_SUBDIR, cfg, export=root)
    (root / "rllib_checkpoint.json").write_text(json.dumps({"checkpoint_version": "2.1"}))
    return root


MINIMAL = EnvConfig(action_set="minimal", frame_skip=8)


@pytest.fixture(scope="module")
def module_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_module(tmp_path_factory.mktemp("mod") / "minimal", MINIMAL)


@pytest.mark.parametrize("name", ["random", "noop", "block", "heuristic", "cpu-3", "mash-hp"])
def test_every_baseline_plays(name: str) -> None:
    cfg = EnvConfig(frame_skip=4)
    env = SF2Env(cfg)
    policy = load_policy(name, cfg, seed=0)
    env.ram_bytes = policy.needs_ram
    obs, _ = env.reset(seed=1)
    policy.reset(seed=1)
    actions = set()
    for _ in range(60):
        action = policy.act(obs, env.state, ram=env.ram, player=0)
        assert env.action_space.contains(action)
        actions.add(action)
        obs, *_ = env.step(action)
    assert (len(actions) == 1) == (name in ("noop", "block"))
    env.close()


@pytest.mark.parametrize(
    ("name", "cfg", "message"),
    [
        ("mash-mp", MINIMAL, "can mash only \\['lp', 'hp', 'lk', 'hk'\\]"),
        ("cpu-9", EnvConfig(), "CPU levels are 1-8"),
        ("heuristic", EnvConfig(game="sf2-turbo-snes", backend="bizhawk"), "plays only game 'sim'"),
    ],
)
def test_unplayable_baselines_are_explained(name: str, cfg: EnvConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_policy(name, cfg)


@pytest.mark.parametrize("facing_right", [True, False])
def test_scripted_masks_map_back_onto_the_seed_set_exactly(facing_right: bool) -> None:
    from emulator_worker.sim import BUTTONS

    actions = get_action_set("seed")
    encoder = ActionEncoder(actions, SNES_BUTTONS, BUTTONS)
    mapper = MaskMapper("seed")
    for i in range(len(actions)):
        assert mapper(encoder.beats(i, facing_right)[0], facing_right) == i


def test_scripted_opponent_keeps_its_full_vocabulary() -> None:
    assert load_policy("heuristic", MINIMAL).action_set == "minimal"
    assert load_policy("heuristic", MINIMAL, seat="opponent").action_set == "seed"


def test_checkpoint_policy_is_greedy_on_its_q_values(module_ckpt: Path) -> None:
    policy = load_policy(module_ckpt, MINIMAL)
    assert isinstance(policy, CheckpointPolicy) and policy.action_set == "minimal"
    env = SF2Env(MINIMAL)
    obs, _ = env.reset(seed=0)
    q = policy.q_values(obs)
    assert q is not None and q.shape == (12,)
    assert policy.act(obs, env.state) == int(np.argmax(q))
    assert policy.fork().module is policy.module  # forks share the read-only weights


def test_missing_checkpoint_says_so(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*nope.*not a baseline.*random, noop"):
        load_policy(tmp_path / "nope", MINIMAL)
    with pytest.raises(CheckpointError, match="is not an RLlib checkpoint and holds none"):
        load_policy(tmp_path, MINIMAL)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"action_set": "seed"}, "action count: checkpoint 12, env 63 .*--set action_set=minimal"),
        (
            {"action_set": "minimal", "obs": "pixels"},
            "obs shape: checkpoint \\(45,\\), env \\(84, 84, 4\\).*--set obs=ram",
        ),
    ],
)
def test_incompatible_checkpoint_names_the_mismatch(module_ckpt: Path, options: dict[str, str], message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        load_policy(module_ckpt, EnvConfig(**options))


def test_an_opponent_checkpoint_must_see_ram_features(tmp_path: Path) -> None:
    pixels = save_module(tmp_path / "pixels", EnvConfig(obs="pixels", pixel_size=42, frame_stack=1))
    with pytest.raises(CheckpointError, match="RAM features"):
        load_policy(pixels, EnvConfig(), seat="opponent")


def test_refreshing_policy_follows_the_newest_checkpoint(tmp_path: Path) -> None:
    first = save_algorithm_layout(tmp_path / "trial" / "checkpoint_000000", MINIMAL)
    policy = RefreshingPolicy(tmp_path, MINIMAL, every=2)
    assert policy.loaded == first
    second = save_algorithm_layout(tmp_path / "trial" / "checkpoint_000001", MINIMAL)
    later = time.time() + 5
    os.utime(second / "rllib_checkpoint.json", (later, later))
    assert newest_checkpoint(tmp_path) == second
    policy.reset(seed=0)
    assert policy.loaded == first  # not yet: every 2 matches
    policy.reset(seed=0)
    assert policy.loaded == second and policy.name.endswith("checkpoint_000001")


def test_a_checkpoint_still_being_written_is_not_the_newest(tmp_path: Path) -> None:
    done = save_algorithm_layout(tmp_path / "trial" / "checkpoint_000000", MINIMAL)
    # RLlib's files are there, the policy export (written last) is not: a save in progress, or cut short.
    partial = save_algorithm_layout(tmp_path / "trial" / "checkpoint_000001", MINIMAL)
    shutil.rmtree(partial / EXPORT_DIR)
    later = time.time() + 5
    os.utime(partial / "rllib_checkpoint.json", (later, later))
    assert newest_checkpoint(tmp_path) == done
    assert resolve_checkpoint(tmp_path / "trial") == done


def test_a_relative_checkpoint_path_loads(module_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(module_ckpt.parent)  # RLlib's own loader wants absolute paths; users type relative ones
    assert load_policy(module_ckpt.name, MINIMAL).name.endswith("/minimal")
