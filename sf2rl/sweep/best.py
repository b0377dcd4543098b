"""`sf2rl best`: find the best trial of an experiment in MLflow and download its checkpoint."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from sf2rl.core.errors import CheckpointError
from sf2rl.core.tags import TAG_KIND


@dataclass(frozen=True)
class BestCheckpoint:
    """The best trial's best checkpoint of an experiment."""

    run_id: str
    run_name: str
    metric: str
    score: float
    path: Path


def _sweep_metric(client: MlflowClient, parent_id: str | None) -> tuple[str, str]:
    if parent_id:
        try:
            local = client.download_artifacts(parent_id, "sweep_resolved.json")
            search = json.loads(Path(local).read_text())["search"]
            return search["metric"], search["mode"]
        except Exception:  # an older or foreign parent run: fall back to the default metric
            pass
    return "episode_return_mean", "max"


def best_checkpoint(uri: str, experiment: str, out: Path) -> BestCheckpoint:
    """Download the best trial's best checkpoint (by the sweep's metric, not the latest) into ``out``."""
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise CheckpointError(f"no MLflow experiment {experiment!r} at {uri}; known: {names}")
    runs = client.search_runs([exp.experiment_id], f"tags.`{TAG_KIND}` = 'trial'", max_results=10000)
    scored: list[tuple[float, Any]] = []
    for run in runs:
        raw = run.data.tags.get("sf2rl.best_score")
        if raw is not None and math.isfinite(float(raw)):
            scored.append((float(raw), run))
    if not scored:
        raise CheckpointError(f"experiment {experiment!r} has no trial with a logged checkpoint yet")
    metric, mode = _sweep_metric(client, scored[0][1].data.tags.get("mlflow.parentRunId"))
    sign = 1 if mode == "max" else -1
    score, run = max(scored, key=lambda s: sign * s[0])
    out.mkdir(parents=True, exist_ok=True)
    local = client.download_artifacts(run.info.run_id, "checkpoint", str(out))
    return BestCheckpoint(run.info.run_id, run.info.run_name or run.info.run_id, metric, score, Path(local))
