"""Run (or resume) a sweep on Ray Tune, tracked in MLflow, and report the best trial."""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import ray
from ray import tune
from ray.tune import CheckpointConfig, FailureConfig, RunConfig, TuneConfig, Tuner

from sf2rl.core import choice
from sf2rl.core.defaults import OVERRIDES_KEY
from sf2rl.core.errors import ConfigError
from sf2rl.play.recording import record_match
from sf2rl.sweep import report_page
from sf2rl.sweep.importance import importance_plot, param_importance
from sf2rl.sweep.interruption import Interruption, SweepInterrupted
from sf2rl.sweep.metrics import best_scored
from sf2rl.sweep.progress import ProgressTable
from sf2rl.sweep.report import parallel_coordinates, reward_curves
from sf2rl.sweep.schema import SweepConfig, apply_overrides
from sf2rl.sweep.space import scheduler, search_algorithm, tune_space
from sf2rl.sweep.tracking import MLflowTracker, Tracker, file_hash, git_commit, trial_params
from sf2rl.sweep.trainable import PooledDQN, base_config


@dataclass(frozen=True)
class SweepOutcome:
    """What a finished sweep reports."""

    experiment_dir: str
    best_trial: str
    best_score: float
    best_checkpoint: str | None
    best_params: dict[str, Any]
    parent_run_id: str | None
    trials: int
    errored: int
    interrupted: int | None = None
    """The signal that stopped the sweep (its state saved for ``--resume``), or None if it ran to the end."""


def init_ray(address: str | None) -> None:
    """Connect to a cluster (``--address``/``RAY_ADDRESS``) or start a quiet local Ray."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if not address:
        # A private local Ray needs no token; a cluster keeps whatever auth mode its operator chose.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        tmp = os.environ.get("SF2RL_RAY_TMPDIR")
        if tmp:
            kwargs["_temp_dir"] = tmp
    ray.init(address=address, **kwargs)


def experiment_dir(sweep: SweepConfig, resume: bool) -> str:
    """A fresh ``<storage>/<name>-<time>`` location, or the newest resumable one (folders or URIs)."""
    remote = "://" in sweep.storage
    storage = sweep.storage.rstrip("/") if remote else str(Path(sweep.storage).resolve())
    if not resume:
        return f"{storage}/{sweep.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    fs, root = pafs.FileSystem.from_uri(storage) if remote else (pafs.LocalFileSystem(), storage)
    found = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    names = sorted(
        i.base_name for i in found
        if i.type == pafs.FileType.Directory and i.base_name.startswith(f"{sweep.name}-")
        and fs.get_file_info(f"{i.path}/tuner.pkl").type == pafs.FileType.File
    )  # fmt: skip
    if not names:
        raise ConfigError(f"nothing to resume: no {sweep.name}-* sweep under {storage}; run without --resume")
    return f"{storage}/{names[-1]}"  # names end in a sortable timestamp


def trial_name(trial: Any) -> str:
    """Short, file-safe trial names from the swept values (Tune's default spells out whole configs)."""
    params = trial_params(trial.config or {})
    swept = ",".join(f"{k.rsplit('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
                     for k, v in sorted(params.items()))  # fmt: skip
    safe = "".join(c if c.isalnum() or c in "=,.-_" else "_" for c in swept)
    return f"trial_{trial.trial_id}" + (f"_{safe[:80]}" if safe else "")


def _resolver(sweep: SweepConfig):  # type: ignore[no-untyped-def]
    def resolve(trial_config: dict[str, Any]) -> dict[str, Any]:
        env, dqn = apply_overrides(sweep, trial_params(trial_config))
        return {"env": env.model_dump(mode="json"), "dqn": dqn.model_dump(mode="json")}

    return resolve


def run_sweep(
    sweep: SweepConfig, sweep_file: Path, *, resume: bool = False, address: str | None = None
) -> SweepOutcome:
    """Run the sweep to completion and log its summary; returns the best trial.

    SIGINT or SIGTERM stops it resumably instead: Tune saves its state, the sweep's unfinished
    MLflow runs are marked KILLED, and the outcome names the signal (``sf2rl sweep`` exits 130 or 143).
    """
    exp_dir = experiment_dir(sweep, resume)
    exp_name = exp_dir.rsplit("/", 1)[1]
    stock = sweep.tracking.enabled and sweep.tracking.callback == "ray"
    tracking = sweep.tracking.enabled and not stock
    tracker = Tracker(sweep.tracking.uri, sweep.tracking.experiment or sweep.name, exp_name) if tracking else None
    trials = 0
    with Interruption() as interruption:
        try:
            results = _fit(sweep, sweep_file, exp_dir, tracker, interruption, resume=resume, address=address)
            trials = len(results)
            if interruption.signum is None:
                return summarize(sweep, results, exp_dir, tracker)
        except SweepInterrupted as e:
            interruption.signum = e.signum
    parent = None
    if tracker is not None:
        killed = tracker.kill_unfinished()
        parent = tracker.parent_run_id
        log.warning("sweep stopped by signal %d; marked %d MLflow run(s) KILLED", interruption.signum, len(killed))
    return SweepOutcome(exp_dir, "-", float("nan"), None, {}, parent, trials, 0, interruption.signum)


def _fit(
    sweep: SweepConfig,
    sweep_file: Path,
    exp_dir: str,
    tracker: Tracker | None,
    interruption: Interruption,
    *,
    resume: bool,
    address: str | None,
) -> tune.ResultGrid:
    """Set up tracking and Ray, and run Tune until the sweep ends or a signal stops it."""
    exp_parent, exp_name = exp_dir.rsplit("/", 1)
    metric, mode = sweep.search.metric, sweep.search.mode
    stock = sweep.tracking.enabled and sweep.tracking.callback == "ray"
    if tracker is not None:
        parent = tracker.parent(
            {
                "sf2rl.sweep_file": str(sweep_file),
                "sf2rl.sweep_hash": file_hash(sweep_file),
                "sf2rl.git_commit": git_commit(),
            },
            description=sweep.description,
        )
        tracker.client.log_artifact(parent, str(sweep_file))
        tracker.log_json(parent, sweep.model_dump(mode="json"), "sweep_resolved.json")
    init_ray(address)
    interruption.install()  # ray.init maps SIGTERM to sys.exit, which would skip Tune's final snapshot
    callbacks: list[Any] = [ProgressTable(metric)]
    if tracker is not None:
        callbacks.insert(0, MLflowTracker(tracker, _resolver(sweep), _live_importance(sweep, tracker), metric, mode))
    elif stock:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        name = sweep.tracking.experiment or sweep.name
        # Tagged here, as Tracker tags its own, so that the UI opens this experiment on its runs table too.
        _ = Tracker(sweep.tracking.uri, name, exp_name).experiment_id
        callbacks.insert(0, MLflowLoggerCallback(sweep.tracking.uri, experiment_name=name))
    # Tune stores class references (callbacks, connectors) as placeholders; a restore needs them again.
    param_space = base_config(sweep)
    param_space.env_config[OVERRIDES_KEY] = tune_space(sweep)
    if resume:
        tuner = Tuner.restore(
            exp_dir,
            trainable=PooledDQN,
            resume_unfinished=True,
            resume_errored=True,
            param_space=param_space,  # type: ignore[arg-type]  # Tune converts AlgorithmConfig itself
        )
    else:
        stop = sweep.stop.criteria()
        tuner = Tuner(
            PooledDQN,
            param_space=param_space,  # type: ignore[arg-type]  # Tune converts AlgorithmConfig itself
            tune_config=TuneConfig(
                metric=metric,
                mode=mode,
                num_samples=sweep.search.num_samples,
                search_alg=search_algorithm(sweep),
                trial_name_creator=trial_name,
                trial_dirname_creator=trial_name,
                scheduler=scheduler(sweep),
            ),
            run_config=RunConfig(
                name=exp_name,
                storage_path=exp_parent,
                stop=stop,
                verbose=0,
                callbacks=callbacks,
                failure_config=FailureConfig(max_failures=sweep.failure.max_retries),
                checkpoint_config=CheckpointConfig(
                    num_to_keep=sweep.checkpoint.keep,
                    checkpoint_score_attribute=metric,
                    checkpoint_score_order=mode,
                    checkpoint_frequency=sweep.checkpoint.every,
                    checkpoint_at_end=True,
                ),
            ),
        )
    interruption.tune_running = True
    try:
        return tuner.fit()
    finally:
        interruption.tune_running = False


log = logging.getLogger(__name__)

HISTORY = ("training_iteration", "env_steps_total", "time_total_s", "episode_return_mean", "win_rate",
           "eval_win_rate")  # fmt: skip
"""Columns of each trial's result history the sweep report keeps (x axes first)."""


@dataclass(frozen=True)
class TrialRow:
    """One trial's line in the sweep summary."""

    name: str
    trial_id: str
    params: dict[str, Any]
    curve: list[tuple[int, float]]
    checkpoint: str | None
    score: float
    history: dict[str, list[float]] = field(default_factory=dict)
    """Per iteration: the x axes (iteration, env steps, seconds) and the metrics the report plots."""
    curve_metric: str = ""
    """The metric ``curve`` follows (the sweep's)."""

    @property
    def final(self) -> float | None:
        """The metric at the last iteration."""
        return self.curve[-1][1] if self.curve else None

    def report(self) -> dict[str, Any]:
        """What the sweep report and importance need: params, history, and each column's last finite value."""
        final = {}
        for column, values in self.history.items():
            finite = [v for v in values if math.isfinite(v)]
            if finite:
                final[column] = finite[-1]
        if self.final is not None:
            final.setdefault(self.curve_metric, self.final)
        return {"name": self.name, "params": self.params, "history": self.history, "final": final}

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view, without the curve."""
        return {"name": self.name, "trial_id": self.trial_id, "params": self.params, "final": self.final,
                "checkpoint": self.checkpoint, "score": self.score}  # fmt: skip


def _row(result: Any, metric: str, sign: int) -> tuple[TrialRow, Any]:
    df = result.metrics_dataframe
    curve: list[tuple[int, float]] = []
    if df is not None and metric in df:
        pairs = zip(df["training_iteration"], df[metric], strict=True)
        curve = [(int(i), float(v)) for i, v in pairs if math.isfinite(v)]
    best = best_scored(result.best_checkpoints or [], metric, sign)
    score, ckpt = best if best is not None else (float("nan"), result.checkpoint)
    trial_id = str((result.metrics or {}).get("trial_id", Path(result.path).name))
    history = {}
    if df is not None:
        for column in (*HISTORY, metric):
            if column in df:
                history[column] = [float(v) for v in df[column]]
    row = TrialRow(Path(result.path).name, trial_id, trial_params(result.config or {}), curve,
                   ckpt.path if ckpt else None, score, history, metric)  # fmt: skip
    return row, ckpt


REPORT_FINALS = ("episode_return_mean", "win_rate", "eval_win_rate", "env_steps_total", "time_total_s")
"""Final values the report's parameter matrix shows beside the sweep metric (those a trial has)."""


def importance_metrics(sweep: SweepConfig) -> list[str]:
    """Metrics importance is computed for: the sweep's own, and the final win rate (in-trial eval if on)."""
    win = "eval_win_rate" if sweep.evaluation.every else "win_rate"
    return list(dict.fromkeys([sweep.search.metric, win]))


def _live_importance(sweep: SweepConfig, tracker: Tracker) -> Any:
    """Refresh the parent run's importance each time a trial finishes, so it can be read mid-sweep."""

    def refresh(finished: list[dict[str, Any]]) -> None:
        try:
            found = {m: param_importance(finished, sweep.space, m) for m in importance_metrics(sweep)}
            if any(found.values()):
                tracker.log_importance(tracker.parent(), found, step=len(finished))
        except Exception as e:  # a hint, never a reason to stop a sweep
            log.warning("could not refresh parameter importance: %s", e)

    return refresh


def _replay(sweep: SweepConfig, best: TrialRow, folder: Path) -> str | None:
    """One match of the best checkpoint against the sweep's own CPU level, as a GIF data URI."""
    if best.checkpoint is None:
        return None
    gif = folder / "best_replay.gif"
    try:
        levels = sweep.env.difficulty
        level = max(choice.values(levels))  # several levels are sampled per match: show the hardest
        record_match(best.checkpoint, gif, level=level, seed=sweep.seed, every=3)
    except Exception as e:  # the report is still worth having without its replay
        log.warning("could not record the best trial's replay: %s", e)
        return None
    return report_page.gif_data_uri(gif)


def summarize(sweep: SweepConfig, results: tune.ResultGrid, exp_dir: str, tracker: Tracker | None) -> SweepOutcome:
    """Pick each trial's best checkpoint, log artifacts and plots, and return the sweep's best."""
    metric, mode = sweep.search.metric, sweep.search.mode
    sign = 1 if mode == "max" else -1
    rows: list[TrialRow] = []
    errored = 0
    for i in range(len(results)):
        result = results[i]
        errored += result.error is not None
        row, ckpt = _row(result, metric, sign)
        rows.append(row)
        if tracker is not None and ckpt is not None:
            # Mostly logged already, when the trial ended; this catches trials that ended unscored or errored.
            tracker.log_checkpoint(tracker.child(row.trial_id, row.name, row.params), ckpt.path, row.score)
    finite = [r for r in rows if math.isfinite(r.score)]
    best = max(finite, key=lambda r: sign * r.score) if finite else None
    parent = None
    if tracker is not None:
        parent = tracker.parent()
        plot_rows = [{"name": r.name, "params": r.params, "curve": r.curve, "final": r.final} for r in rows]
        trials = [r.report() for r in rows]
        importance = {m: param_importance(trials, sweep.space, m) for m in importance_metrics(sweep)}
        with tempfile.TemporaryDirectory() as d:
            html = parallel_coordinates(plot_rows, metric, Path(d) / "parallel_coordinates.html")
            tracker.client.log_artifact(parent, str(html))
            tracker.client.log_artifact(parent, str(reward_curves(plot_rows, metric, Path(d) / "reward_curves.png")))
            tracker.log_importance(parent, importance, step=len(trials))
            tracker.client.log_artifact(parent, str(importance_plot(importance, Path(d) / "importance.png")))
            data = {
                "name": sweep.name, "description": sweep.description, "metric": metric, "mode": mode,
                "best": best.name if best else None, "trials": trials, "importance": importance,
                "final_metrics": list(dict.fromkeys([metric, *importance_metrics(sweep), *REPORT_FINALS])),
                "curve_metrics": list(dict.fromkeys([metric, *importance_metrics(sweep)])),
                "replay_gif": _replay(sweep, best, Path(d)) if best is not None and sweep.tracking.replay else None,
                "evaluations": [],
            }  # fmt: skip
            page, _ = report_page.write(data, Path(d) / "report")
            tracker.client.log_artifacts(parent, str(page.parent), "report")
        summary = {"best": best.summary() if best else None, "trials": len(rows), "errored": errored}
        tracker.log_json(parent, summary, "summary.json")
        if best is not None:
            tracker.log_metrics(parent, {f"best_{metric}": best.score}, 0)
        tracker.finish(parent, "FINISHED" if errored == 0 else "FAILED")
    return SweepOutcome(
        exp_dir,
        best.name if best else "-",
        best.score if best else float("nan"),
        best.checkpoint if best else None,
        best.params if best else {},
        parent,
        len(rows),
        errored,
    )
