"""`sf2rl best` over a real sqlite MLflow store, without Ray: which run it picks, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from sf2rl.agents.export import EXPORT_DIR, NOTE, WEIGHTS, sha256
from sf2rl.core.errors import CheckpointError
from sf2rl.core.tags import POLICY_SHA_TAG, TAG_KIND
from sf2rl.sweep.best import best_checkpoint


def _checkpoint(folder: Path, weights: bytes) -> Path:
    """A checkpoint folder holding a policy export (its content is opaque to `best`, only hashed)."""
    export = folder / EXPORT_DIR
    export.mkdir(parents=True)
    (export / WEIGHTS).write_bytes(weights)
    (export / NOTE).write_text("{}")
    return folder


class _Store:
    """An experiment with a parent sweep run and trial runs, as the sweep logs them."""

    def __init__(self, root: Path, search: dict[str, str] | None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.uri = root, f"sqlite:///{root / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri)
        self.exp = self.client.create_experiment("exp", artifact_location=str(root / "artifacts"))
        self.parent = self.client.create_run(self.exp, tags={TAG_KIND: "sweep"}).info.run_id
        if search is not None:
            resolved = root / "sweep_resolved.json"
            resolved.write_text(json.dumps({"search": search}))
            self.client.log_artifact(self.parent, str(resolved))

    def trial(self, name: str, score: str | None, *, sha: bool = True, export: bool = True) -> str:
        tags = {TAG_KIND: "trial", "mlflow.parentRunId": self.parent}
        if score is not None:
            tags["sf2rl.best_score"] = score
        run = self.client.create_run(self.exp, tags=tags, run_name=name).info.run_id
        ckpt = self.root / "local" / name / "checkpoint"
        if export:
            _checkpoint(ckpt, name.encode())
        else:
            ckpt.mkdir(parents=True)
            (ckpt / "rllib_state.pkl").write_bytes(b"pickled")
        if sha and export:
            self.client.set_tag(run, POLICY_SHA_TAG, sha256(ckpt / EXPORT_DIR / WEIGHTS))
        self.client.log_artifacts(run, str(ckpt), "checkpoint")
        return run


@pytest.mark.parametrize(("mode", "picked", "score"), [("max", "high", 0.9), ("min", "low", 0.2)])
def test_the_sweeps_own_metric_and_mode_pick_the_trial(tmp_path: Path, mode: str, picked: str, score: float) -> None:
    store = _Store(tmp_path, {"metric": "eval_win_rate", "mode": mode})
    runs = {name: store.trial(name, s) for name, s in [("low", "0.2"), ("high", "0.9"), ("mid", "0.5")]}
    store.trial("unscored", None)
    store.trial("diverged", "nan")  # a NaN score never wins, under max or min
    best = best_checkpoint(store.uri, "exp", tmp_path / "out")
    assert (best.run_id, best.run_name, best.metric, best.score) == (runs[picked], picked, "eval_win_rate", score)
    # The downloaded checkpoint is the picked run's, byte for byte.
    assert (best.path / EXPORT_DIR / WEIGHTS).read_bytes() == picked.encode()
    assert best.path.is_relative_to(tmp_path / "out")


def test_without_the_sweeps_record_the_highest_return_wins(tmp_path: Path) -> None:
    store = _Store(tmp_path, None)
    store.trial("a", "-3.0")
    b = store.trial("b", "-1.0")
    best = best_checkpoint(store.uri, "exp", tmp_path / "out")
    assert (best.run_id, best.metric, best.score) == (b, "episode_return_mean", -1.0)


def test_an_unknown_experiment_names_the_known_ones(tmp_path: Path) -> None:
    store = _Store(tmp_path, None)
    with pytest.raises(CheckpointError, match=r"no MLflow experiment 'nope'.*'exp'"):
        best_checkpoint(store.uri, "nope", tmp_path / "out")


def test_an_experiment_without_a_scored_trial_is_refused(tmp_path: Path) -> None:
    store = _Store(tmp_path, None)
    store.trial("unscored", None)
    store.trial("diverged", "inf")
    with pytest.raises(CheckpointError, match="no trial with a logged checkpoint"):
        best_checkpoint(store.uri, "exp", tmp_path / "out")


def test_a_changed_artifact_is_refused(tmp_path: Path) -> None:
    store = _Store(tmp_path, None)
    run = store.trial("a", "1.0")
    swapped = _checkpoint(tmp_path / "swapped", b"someone else's weights")
    store.client.log_artifacts(run, str(swapped), "checkpoint")  # overwrites the logged weights
    with pytest.raises(CheckpointError, match="was changed since; do not load it"):
        best_checkpoint(store.uri, "exp", tmp_path / "out")


def test_a_run_without_a_recorded_hash_or_an_export_is_refused(tmp_path: Path) -> None:
    store = _Store(tmp_path, None)
    store.trial("a", "1.0", sha=False)
    with pytest.raises(CheckpointError, match=f"records no {POLICY_SHA_TAG}"):
        best_checkpoint(store.uri, "exp", tmp_path / "out")
    old = _Store(tmp_path / "old", None)
    old.trial("pickled", "1.0", export=False)
    with pytest.raises(CheckpointError, match="no sf2rl policy export"):
        best_checkpoint(old.uri, "exp", tmp_path / "out2")
