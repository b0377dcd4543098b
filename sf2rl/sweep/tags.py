"""The MLflow tags sf2rl writes on sweep and trial runs, and reads back in `sf2rl best`.

A module of its own so that reading them does not load Ray Tune (which `sweep.tracking` needs).
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
