"""Policies load from the sf2rl policy export (weights and JSON), so a checkpoint someone sent runs no code."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import save_module

from sf2rl.agents.checkpoint import CheckpointPolicy, recorded_env_config
from sf2rl.agents.export import EXPORT_DIR, NOTE, TRUST_PICKLES, WEIGHTS, load_module
from sf2rl.agents.factory import load_policy
from sf2rl.cli.main import main as sf2rl_main
from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import CheckpointError

MINIMAL = EnvConfig(action_set="minimal", frame_skip=8)


class Trap:
    """Unpickling this touches a file: proof that code from the checkpoint ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _booby_trap(ckpt: Path, marker: Path) -> None:
    """Replace every pickle RLlib would read in ``ckpt`` with one that runs code."""
    for pkl in ckpt.rglob("*.pkl"):
        pkl.write_bytes(pickle.dumps(Trap(marker)))


def test_the_export_round_trips_the_network_and_the_env(tmp_path: Path) -> None:
    ckpt = save_module(tmp_path / "ckpt", MINIMAL)
    policy = load_policy(ckpt, MINIMAL)
    assert isinstance(policy, CheckpointPolicy) and policy.env_config == MINIMAL
    from ray.rllib.core.rl_module.rl_module import RLModule

    rllib = RLModule.from_checkpoint(ckpt)  # the pickled original, read here on purpose: the test wrote it
    obs = np.random.default_rng(0).uniform(-1, 1, (8, *policy.obs_shape)).astype(np.float32)
    import torch

    with torch.no_grad():
        want = rllib.compute_q_values({"obs": torch.from_numpy(obs)})["qf_preds"].numpy()
    got = np.stack([policy.q_values(o) for o in obs])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # one row at a time vs a batch: float rounding


def test_a_booby_trapped_checkpoint_with_an_export_runs_none_of_its_pickles(tmp_path: Path) -> None:
    ckpt = save_module(tmp_path / "ckpt", MINIMAL)
    marker = tmp_path / "pwned"
    _booby_trap(ckpt, marker)
    assert list(ckpt.rglob("*.pkl"))  # the trap is set
    policy = load_policy(ckpt, MINIMAL)
    assert recorded_env_config(ckpt) == MINIMAL
    policy.act(np.zeros(policy.obs_shape, np.float32), None)  # type: ignore[arg-type]
    assert not marker.exists()


def test_without_an_export_a_checkpoint_is_refused_unread(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    ckpt = save_module(tmp_path / "ckpt", MINIMAL)
    marker = tmp_path / "pwned"
    _booby_trap(ckpt, marker)
    for f in (ckpt / EXPORT_DIR).iterdir():
        f.unlink()
    with pytest.raises(CheckpointError, match=f"no sf2rl policy export.*{TRUST_PICKLES}=1"):
        load_policy(ckpt, MINIMAL)
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["eval", str(ckpt), "--matches", "1", "--workers", "1"])
    assert code.value.code == 2 and "no sf2rl policy export" in capsys.readouterr().err
    assert recorded_env_config(ckpt) is None
    assert not marker.exists()
    # The user's own old checkpoint: they may say so, and then RLlib's pickles are read (here: the trap runs).
    monkeypatch.setenv(TRUST_PICKLES, "1")
    with pytest.raises(Exception):  # noqa: B017 (the trap returns no module; that it ran is the point)
        load_policy(ckpt, MINIMAL)
    assert marker.exists()


def test_altered_weights_are_refused(tmp_path: Path) -> None:
    ckpt = save_module(tmp_path / "ckpt", MINIMAL)
    weights = ckpt / EXPORT_DIR / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match="SHA-256 does not match"):
        load_module(ckpt / EXPORT_DIR)
    (ckpt / EXPORT_DIR / NOTE).write_text("{not json")
    with pytest.raises(CheckpointError, match="not a readable sf2rl policy export"):
        load_module(ckpt / EXPORT_DIR)


def test_weights_that_are_not_tensors_are_refused_unexecuted(tmp_path: Path) -> None:
    import hashlib
    import json

    ckpt = save_module(tmp_path / "ckpt", MINIMAL)
    marker = tmp_path / "pwned"
    weights = ckpt / EXPORT_DIR / WEIGHTS
    weights.write_bytes(pickle.dumps({"w": Trap(marker)}))
    note = json.loads((ckpt / EXPORT_DIR / NOTE).read_text())
    note["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()  # a consistent forgery
    (ckpt / EXPORT_DIR / NOTE).write_text(json.dumps(note))
    with pytest.raises(CheckpointError, match="not loadable"):
        load_module(ckpt / EXPORT_DIR)
    assert not marker.exists()
