"""`sf2rl best`: find the best trial of an experiment in MLflow and download its checkpoint."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from sf2rl.agents.export import EXPORT_DIR, WEIGHTS, export_dir, sha256
from sf2rl.core.errors import CheckpointError
from sf2rl.core.tags import BEST_SCORE_TAG, POLICY_SHA_TAG, TAG_KIND


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
        raw = run.data.tags.get(BEST_SCORE_TAG)
        if raw is not None and math.isfinite(float(raw)):
            scored.append((float(raw), run))
    if not scored:
        raise CheckpointError(f"experiment {experiment!r} has no trial with a logged checkpoint yet")
    metric, mode = _sweep_metric(client, scored[0][1].data.tags.get("mlflow.parentRunId"))
    sign = 1 if mode == "max" else -1
    score, run = max(scored, key=lambda s: sign * s[0])
    out.mkdir(parents=True, exist_ok=True)
    local = Path(client.download_artifacts(run.info.run_id, "checkpoint", str(out)))
    verify(local, run.data.tags.get(POLICY_SHA_TAG), run.info.run_id)
    return BestCheckpoint(run.info.run_id, run.info.run_name or run.info.run_id, metric, score, local)


def verify(checkpoint: Path, recorded: str | None, run_id: str) -> None:
    """Check a downloaded checkpoint's policy weights against the SHA-256 its run recorded when it was logged."""
    exported = export_dir(checkpoint)
    if exported is None:
        raise CheckpointError(
            f"the checkpoint of run {run_id} has no sf2rl policy export ({EXPORT_DIR}); it was logged by an older "
            "sf2rl, and loading it would unpickle RLlib's files (see docs/security.md)"
        )
    if recorded is None:
        raise CheckpointError(f"run {run_id} records no {POLICY_SHA_TAG}: its checkpoint cannot be verified")
    found = sha256(exported / WEIGHTS)
    if found != recorded:
        raise CheckpointError(
            f"the downloaded policy of run {run_id} has SHA-256 {found[:12]}..., but the run recorded "
            f"{recorded[:12]}... when it was logged: the artifact was changed since; do not load it"
        )
