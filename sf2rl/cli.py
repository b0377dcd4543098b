"""`sf2rl`: run sweeps, validate sweep files, pull the best checkpoint, open MLflow, benchmark."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from sf2rl.errors import SF2RLError

console = Console(stderr=True, soft_wrap=True)
DEFAULT_URI = "sqlite:///mlflow.db"
# Modules that add their own subcommands: each has `register(subparsers)` setting `func(args) -> int`.
COMMAND_MODULES: list[str] = ["sf2rl.evaluate", "sf2rl.replay", "sf2rl.tournament", "sf2rl.watch"]


def _validate(args: argparse.Namespace) -> int:
    from sf2rl.sweep.schema import load_sweep

    sweep = load_sweep(args.file)
    what = f"sweep {sweep.name!r}, {len(sweep.space)} swept key(s), {sweep.pool.backend} backend"
    console.print(f"[green]ok[/green] {args.file}: {what}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from sf2rl.sweep.schema import load_sweep

    sweep = load_sweep(args.file)  # validate before Ray starts: a bad file exits 2 here
    from sf2rl.sweep.runner import run_sweep

    outcome = run_sweep(sweep, Path(args.file), resume=args.resume, address=args.address)
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


def _best(args: argparse.Namespace) -> int:
    from sf2rl.checkpoints import best_checkpoint

    best = best_checkpoint(args.tracking_uri, args.experiment, Path(args.out))
    if args.json:
        print(json.dumps({"run_id": best.run_id, "run_name": best.run_name, "metric": best.metric,
                          "score": best.score, "path": str(best.path)}))  # fmt: skip
    else:
        console.print(f"best trial {best.run_name} ({best.metric} = {best.score:.4g})")
        print(best.path)
    return 0


def _ui(args: argparse.Namespace) -> int:
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", args.tracking_uri,
           "--host", args.host, "--port", str(args.port), "--workers", "1"]  # fmt: skip
    console.print(f"MLflow UI on http://{args.host}:{args.port}  (Ctrl-C to stop)")
    if sys.platform == "win32":
        return subprocess.call(cmd, env=env)
    # Become the server, so that signals (Ctrl-C, a supervisor's SIGTERM) reach it directly.
    os.execve(cmd[0], cmd, env)


def _bench(args: argparse.Namespace) -> int:
    from sf2rl.bench import run_bench

    report = run_bench(quick=args.quick, only=args.only)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from sf2rl.bench import print_report

        print_report(report, console)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    ap = argparse.ArgumentParser(prog="sf2rl", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sweep", help="run a sweep (local Ray by default)")
    s.add_argument("file")
    s.add_argument("--resume", action="store_true", help="continue the newest interrupted run of this sweep")
    s.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)")
    s.set_defaults(func=_sweep)
    v = sub.add_parser("validate", help="check a sweep file; exit 2 on error")
    v.add_argument("file")
    v.set_defaults(func=_validate)
    b = sub.add_parser("best", help="download the best checkpoint of an MLflow experiment")
    b.add_argument("experiment")
    b.add_argument("--out", default="best-checkpoint")
    b.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI))
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_best)
    u = sub.add_parser("ui", help="serve the MLflow UI on the local store")
    u.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI))
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=5000)
    u.set_defaults(func=_ui)
    k = sub.add_parser("bench", help="throughput report")
    k.add_argument("--json", action="store_true")
    k.add_argument("--quick", action="store_true", help="fewer repeats (CI smoke)")
    k.add_argument("--only", action="append", help="run only these sections")
    k.add_argument("--out", help="also write the JSON report here")
    k.set_defaults(func=_bench)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return ap


def main(argv: list[str] | None = None) -> None:
    """Entry point of `sf2rl`: typed errors become one line and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except SF2RLError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
