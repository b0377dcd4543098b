"""`sf2rl sweep FILE`: validate a sweep file, then run it on Ray Tune."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from sf2rl.cli.console import console
from sf2rl.sweep.schema import load_sweep


def run(args: argparse.Namespace) -> int:
    """Validate before Ray starts (a bad file exits 2 here), then run the sweep and summarise it."""
    sweep = load_sweep(args.file)
    # Ray, RLlib and torch load only once the file is known to be good: seconds saved on every typo.
    from sf2rl.sweep.runner import run_sweep

    outcome = run_sweep(sweep, Path(args.file), resume=args.resume, address=args.address)
    if outcome.interrupted is not None:
        name = signal.Signals(outcome.interrupted).name
        console.rule(f"sweep stopped by {name}")
        console.print(f"experiment folder: {outcome.experiment_dir} (Tune's state saved)")
        if sweep.tracking.enabled:
            console.print(f"MLflow: unfinished runs marked KILLED (parent run {outcome.parent_run_id})")
        console.print(f"continue it with:  [bold]sf2rl sweep {args.file} --resume[/bold]")
        return 128 + outcome.interrupted
    console.rule("sweep finished")
    console.print(f"experiment folder: {outcome.experiment_dir}")
    console.print(f"trials: {outcome.trials} ({outcome.errored} errored)")
    console.print(f"best trial: [bold]{outcome.best_trial}[/bold]  {sweep.search.metric} = {outcome.best_score:.4g}")
    console.print(f"best params: {outcome.best_params}")
    console.print(f"best checkpoint: {outcome.best_checkpoint}")
    if sweep.tracking.enabled:
        exp = sweep.tracking.experiment or sweep.name
        console.print(f"MLflow: experiment {exp!r} at {sweep.tracking.uri} (parent run {outcome.parent_run_id})")
        console.print(f"open it with:  [bold]sf2rl ui[/bold]   pull the best with:  [bold]sf2rl best {exp}[/bold]")
    return 0 if outcome.errored == 0 else 1


def register(sub: Any) -> None:
    """Add `sf2rl sweep`."""
    s = sub.add_parser("sweep", help="run a sweep (local Ray by default)")
    s.add_argument("file")
    s.add_argument("--resume", action="store_true", help="continue the newest interrupted run of this sweep")
    s.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)")
    s.set_defaults(func=run)
