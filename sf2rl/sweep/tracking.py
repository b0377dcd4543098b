"""MLflow as the team's memory: a parent run per sweep, a child run per trial, batched metrics.

Ray's stock ``MLflowLoggerCallback`` logs metric by metric and nests nothing, so
this Tune callback keeps one client, logs each result with one ``log_batch``,
and re-attaches to existing runs by tag when a sweep resumes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray.tune import Callback

from sf2rl.agents.export import WEIGHTS, export_dir, sha256
from sf2rl.core.defaults import OVERRIDES_KEY
from sf2rl.core.tags import (
    BEST_CHECKPOINT_TAG,
    BEST_SCORE_TAG,
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    NOTE_TAG,
    PARENT_TAG,
    POLICY_SHA_TAG,
    RESTARTS_TAG,
    TAG_KIND,
    TAG_SWEEP,
    TAG_TRIAL,
)
from sf2rl.sweep.backlog import Backlog
from sf2rl.sweep.metrics import best_scored, flatten_metrics


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
            # MLflow's HTTP client retries a refused request for minutes with backoff, holding up Tune's
            # loop; the sweep's Backlog retries instead, so fail fast unless the user chose otherwise.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
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

    @property
    def parent_run_id(self) -> str | None:
        """The parent run's id once it exists in this process, else None."""
        return self._parent

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
            self._parent = self._reopen(found)
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
        self._children[trial_id] = self._reopen(run_id)
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

    def log_checkpoint(self, run_id: str, path: str, score: float) -> None:
        """Log a trial's best checkpoint and its policy export's SHA-256 to its run, once per checkpoint."""
        if self.client.get_run(run_id).data.tags.get(BEST_CHECKPOINT_TAG) == path:
            return  # logged when the trial ended
        self.client.log_artifacts(run_id, path, "checkpoint")
        tags = {BEST_CHECKPOINT_TAG: path, BEST_SCORE_TAG: str(score)}
        if (exported := export_dir(Path(path))) is not None:
            tags[POLICY_SHA_TAG] = sha256(exported / WEIGHTS)
        self.tag(run_id, tags)

    def kill_unfinished(self) -> list[str]:
        """Mark this sweep's runs that are still RUNNING (the parent, unfinished trials) KILLED."""
        runs = self.client.search_runs(
            [self.experiment_id],
            f"tags.`{TAG_SWEEP}` = '{self.sweep_key}' and attributes.status = 'RUNNING'",
            max_results=10_000,
        )
        for run in runs:
            self.finish(run.info.run_id, "KILLED")
        return [run.info.run_id for run in runs]

    def _reopen(self, run_id: str) -> str:
        # A resumed sweep goes on in the runs an interruption marked KILLED.
        if self.client.get_run(run_id).info.status == "KILLED":
            self.client.update_run(run_id, status="RUNNING")
        return run_id

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
    """Tune callback: one child run per trial under the sweep's parent, metrics by ``log_batch``.

    Every write goes through a :class:`Backlog`, so an MLflow outage delays the records instead
    of stopping the sweep; what is still waiting when the sweep ends is retried for
    ``flush_timeout_s``.
    """

    def __init__(
        self,
        tracker: Tracker,
        resolve: Any,
        on_finished: Callable[[list[dict[str, Any]]], None] | None = None,
        metric: str = "episode_return_mean",
        mode: str = "max",
        flush_timeout_s: float = 300.0,
    ) -> None:
        self.tracker = tracker
        self.metric, self.sign = metric, 1 if mode == "max" else -1
        """The sweep metric and its direction, which pick the checkpoint logged when a trial ends."""
        self.resolve = resolve
        """Callable(trial_config) -> resolved env/dqn config dict, logged as an artifact."""
        self.on_finished = on_finished
        """Called with every finished trial ({"params", "final"}) each time one finishes (live importance)."""
        self.flush_timeout_s = flush_timeout_s
        self.backlog = Backlog(tracker.uri)
        self._last: dict[str, dict[str, float]] = {}
        self._finished: dict[str, dict[str, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks into its experiment state; queued writes are closures, which do not pickle.
        return {**self.__dict__, "backlog": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A sweep pickled by an older sf2rl lacks the newer attributes; resume it with their defaults.
        defaults = {"metric": "episode_return_mean", "sign": 1, "flush_timeout_s": 300.0}
        self.__dict__.update({**defaults, **state})
        self.backlog = Backlog(self.tracker.uri)

    def _run(self, trial: Any) -> str:
        return self.tracker.child(trial.trial_id, str(trial), trial_params(trial.config))

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Create (or re-attach to) the trial's child run."""

        def start() -> None:
            known = trial.trial_id in self.tracker._children
            run_id = self._run(trial)
            if not known:
                self.tracker.log_json(run_id, self.resolve(trial.config), "resolved_config.json")

        self.backlog.run(f"the start of {trial}", start)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        """Log the curated metrics of one iteration."""
        metrics = flatten_metrics(result)
        if metrics:
            step = int(result.get("training_iteration", 0))
            self.backlog.run(f"{trial}'s metrics at step {step}",
                             lambda: self.tracker.log_metrics(self._run(trial), metrics, step))  # fmt: skip
            last = self._last.setdefault(trial.trial_id, {})
            last.update({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)})

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Log the trial's best checkpoint and close its run; hand every finished trial so far to ``on_finished``."""
        # Now, not when the sweep ends: a sweep stopped or lost later keeps what its finished trials made.
        results = trial.run_metadata.checkpoint_manager.best_checkpoint_results
        best = best_scored([(r.checkpoint, r.metrics) for r in results], self.metric, self.sign)

        def complete() -> None:
            run_id = self._run(trial)
            if best is not None:
                self.tracker.log_checkpoint(run_id, best[1].path, best[0])
            self.tracker.finish(run_id, "FINISHED")

        self.backlog.run(f"the end of {trial}", complete)
        final = self._last.get(trial.trial_id, {})
        self._finished[trial.trial_id] = {"params": trial_params(trial.config), "final": final}
        if self.on_finished is not None:
            finished, hook = list(self._finished.values()), self.on_finished
            self.backlog.run("parameter importance", lambda: hook(finished))

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Count the restart on the trial's run; the run goes on when Tune restores the trial."""
        failures = str(int(getattr(trial, "num_failures", 0)))
        self.backlog.run(f"{trial}'s restart count",
                         lambda: self.tracker.client.set_tag(self._run(trial), RESTARTS_TAG, failures))  # fmt: skip

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """Mark the trial's run failed."""
        self.backlog.run(f"the failure of {trial}", lambda: self.tracker.finish(self._run(trial), "FAILED"))

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        """Write what an outage held back before the sweep's summary is logged."""
        self.backlog.flush(self.flush_timeout_s)
