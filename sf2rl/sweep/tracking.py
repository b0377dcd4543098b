"""MLflow as the team's memory: a parent run per sweep, a child run per trial, batched metrics.

Ray's stock ``MLflowLoggerCallback`` logs metric by metric and nests nothing, so
this Tune callback keeps one client, logs each result with one ``log_batch``,
and re-attaches to existing runs by tag when a sweep resumes.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray.tune import Callback

from sf2rl.core.defaults import OVERRIDES_KEY
from sf2rl.core.tags import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    NOTE_TAG,
    PARENT_TAG,
    RESTARTS_TAG,
    TAG_KIND,
    TAG_SWEEP,
    TAG_TRIAL,
)
from sf2rl.sweep.metrics import flatten_metrics


def git_commit(cwd: Path | None = None) -> str:
    """The current git commit, or '' outside a repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=cwd, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def file_hash(path: Path) -> str:
    """Short sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def trial_params(trial_config: dict[str, Any]) -> dict[str, Any]:
    """The swept values of a trial (its row of the parameter matrix)."""
    return dict(trial_config.get("env_config", {}).get(OVERRIDES_KEY) or {})


class Tracker:
    """Finds or creates the sweep's parent run and its trials' child runs."""

    def __init__(self, uri: str, experiment: str, sweep_key: str) -> None:
        self.uri = uri
        self.experiment = experiment
        self.sweep_key = sweep_key
        self._client: MlflowClient | None = None
        self._exp_id: str | None = None
        self._parent: str | None = None
        self._children: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks into its experiment state; clients do not pickle.
        return {**self.__dict__, "_client": None}

    @property
    def client(self) -> MlflowClient:
        """The MLflow client, created on first use."""
        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    @property
    def experiment_id(self) -> str:
        """The experiment's id, creating the experiment if needed."""
        if self._exp_id is None:
            exp = self.client.get_experiment_by_name(self.experiment)
            self._exp_id = exp.experiment_id if exp else self.client.create_experiment(self.experiment)
            # Without it MLflow's UI opens the experiment on its GenAI overview, not on the runs table.
            self.client.set_experiment_tag(self._exp_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return self._exp_id

    def _find(self, filter_string: str) -> str | None:
        runs = self.client.search_runs([self.experiment_id], filter_string, max_results=1)
        return runs[0].info.run_id if runs else None

    def parent(self, tags: dict[str, str] | None = None, description: str = "") -> str:
        """The sweep's parent run id (created once, found again on resume), described by the sweep's question."""
        if self._parent is None:
            found = self._find(f"tags.`{TAG_SWEEP}` = '{self.sweep_key}' and tags.`{TAG_KIND}` = 'sweep'")
            if found is None:
                note = {NOTE_TAG: description} if description else {}
                run = self.client.create_run(
                    self.experiment_id,
                    run_name=f"sweep {self.sweep_key}",
                    tags={TAG_SWEEP: self.sweep_key, TAG_KIND: "sweep", **note, **(tags or {})},
                )
                found = run.info.run_id
            self._parent = found
        return self._parent

    def child(self, trial_id: str, name: str, params: dict[str, Any]) -> str:
        """The child run of a trial, created with its swept params on first sight."""
        if trial_id in self._children:
            return self._children[trial_id]
        run_id = self._find(f"tags.`{TAG_SWEEP}` = '{self.sweep_key}' and tags.`{TAG_TRIAL}` = '{trial_id}'")
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=name,
                tags={TAG_SWEEP: self.sweep_key, TAG_TRIAL: trial_id, TAG_KIND: "trial", PARENT_TAG: self.parent()},
            )
            run_id = run.info.run_id
            self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in sorted(params.items())])
        self._children[trial_id] = run_id
        return run_id

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        """All metrics of one step in one call."""
        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def log_json(self, run_id: str, obj: Any, name: str) -> None:
        """Write an object as a JSON artifact."""
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / name
            path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
            self.client.log_artifact(run_id, str(path))

    def finish(self, run_id: str, status: str) -> None:
        """Mark a run FINISHED / FAILED / KILLED."""
        self.client.set_terminated(run_id, status)

    def log_importance(self, run_id: str, importance: dict[str, dict[str, float]], step: int = 0) -> None:
        """Each swept key's importance per metric, as metrics ``importance/<metric>/<key>`` and importance.json.

        ``step`` is the number of finished trials it was computed from, so its history shows it settle.
        """
        flat = {f"importance/{m}/{k}": v for m, values in importance.items() for k, v in values.items()}
        if flat:
            self.log_metrics(run_id, flat, step)
        self.log_json(run_id, importance, "importance.json")

    def tag(self, run_id: str, tags: dict[str, str]) -> None:
        """Add tags to a run."""
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


class MLflowTracker(Callback):
    """Tune callback: one child run per trial under the sweep's parent, metrics by ``log_batch``."""

    def __init__(
        self, tracker: Tracker, resolve: Any, on_finished: Callable[[list[dict[str, Any]]], None] | None = None
    ) -> None:
        self.tracker = tracker
        self.resolve = resolve
        """Callable(trial_config) -> resolved env/dqn config dict, logged as an artifact."""
        self.on_finished = on_finished
        """Called with every finished trial ({"params", "final"}) each time one finishes (live importance)."""
        self._last: dict[str, dict[str, float]] = {}
        self._finished: dict[str, dict[str, Any]] = {}

    def _run(self, trial: Any) -> str:
        return self.tracker.child(trial.trial_id, str(trial), trial_params(trial.config))

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Create (or re-attach to) the trial's child run."""
        known = trial.trial_id in self.tracker._children
        run_id = self._run(trial)
        if not known:
            self.tracker.log_json(run_id, self.resolve(trial.config), "resolved_config.json")

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        """Log the curated metrics of one iteration."""
        metrics = flatten_metrics(result)
        if metrics:
            self.tracker.log_metrics(self._run(trial), metrics, int(result.get("training_iteration", 0)))
            last = self._last.setdefault(trial.trial_id, {})
            last.update({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)})

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Close the trial's run, and hand every finished trial so far to ``on_finished``."""
        self.tracker.finish(self._run(trial), "FINISHED")
        final = self._last.get(trial.trial_id, {})
        self._finished[trial.trial_id] = {"params": trial_params(trial.config), "final": final}
        if self.on_finished is not None:
            self.on_finished(list(self._finished.values()))

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Count the restart on the trial's run; the run goes on when Tune restores the trial."""
        self.tracker.client.set_tag(self._run(trial), RESTARTS_TAG, str(int(getattr(trial, "num_failures", 0))))

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Mark the trial's run failed."""
        self.tracker.finish(self._run(trial), "FAILED")
