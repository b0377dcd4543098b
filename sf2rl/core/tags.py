"""The MLflow tags sf2rl writes on experiments, sweep and trial runs, and reads back (`sf2rl best`, `ui`, `watch`).

A module of its own, in the lowest layer, so that reading them loads neither Ray Tune nor the sweep layer.
"""

from __future__ import annotations

TAG_SWEEP = "sf2rl.sweep"
"""The sweep's identity (its name and file hash) on the parent run and every child."""
TAG_TRIAL = "sf2rl.trial_id"
"""Tune's trial id on a child run."""
TAG_KIND = "sf2rl.kind"
"""'sweep' on the parent run, 'trial' on each child."""
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
"""MLflow's UI opens an experiment with this kind on its runs table (else on the GenAI overview)."""
NOTE_TAG = "mlflow.note.content"
"""MLflow's description field: a sweep's parent run carries the sweep's question."""
PARENT_TAG = "mlflow.parentRunId"
"""MLflow's link from a trial's run to the sweep's parent run."""
WATCH_TAG = "sf2rl.watch_url"
"""On a trial's run while an `sf2rl watch` mosaic shows its matches: the mosaic's address."""
POLICY_SHA_TAG = "sf2rl.policy_sha256"
"""On a trial's run: the SHA-256 of its logged checkpoint's policy weights, checked by `sf2rl best` after download."""
RESTARTS_TAG = "sf2rl.restarts"
"""On a trial's run: how many times Tune restarted the trial from a checkpoint (a lost node, a dead process)."""
BEST_CHECKPOINT_TAG = "sf2rl.best_checkpoint"
"""On a trial's run: where its best checkpoint was when it was logged (the artifact folder ``checkpoint``)."""
BEST_SCORE_TAG = "sf2rl.best_score"
"""On a trial's run: the sweep metric's value at its best checkpoint, which `sf2rl best` ranks by."""
