"""`sf2rl best EXPERIMENT`: download the best trial's checkpoint from MLflow."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sf2rl.cli.console import console
from sf2rl.core.defaults import tracking_uri
from sf2rl.sweep.best import best_checkpoint


def run(args: argparse.Namespace) -> int:
    """Print the checkpoint's local path (stdout), or the whole record with --json."""
    best = best_checkpoint(args.tracking_uri, args.experiment, Path(args.out))
    if args.json:
        print(json.dumps({"run_id": best.run_id, "run_name": best.run_name, "metric": best.metric,
                          "score": best.score, "path": str(best.path)}))  # fmt: skip
    else:
        console.print(f"best trial {best.run_name} ({best.metric} = {best.score:.4g})")
        print(best.path)
    return 0


def register(sub: Any) -> None:
    """Add `sf2rl best`."""
    b = sub.add_parser("best", help="download the best checkpoint of an MLflow experiment")
    b.add_argument("experiment")
    b.add_argument("--out", default="best-checkpoint")
    b.add_argument("--tracking-uri", default=tracking_uri(), help="MLflow store (default $MLFLOW_TRACKING_URI)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=run)
