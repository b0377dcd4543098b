"""The generalist, reproduced end to end: ``sweeps/generalist.yaml``, its best checkpoint, the whole matrix.

The user's commands, in-process: ``sf2rl sweep sweeps/generalist.yaml``, ``sf2rl best generalist``,
``sf2rl eval <ckpt> --matrix --matches 10`` (CPU levels 1-8 x all six opponents, Ryu as the agent,
on seeds that neither training nor the in-trial evaluation used) and ``sf2rl eval <ckpt> --level 3
--opponents ken --matches 200``. Records the sweep's wall time, the time until a trial's in-trial
evaluation first reached each win rate, the win rate over levels 1-4 and over the whole matrix with
Wilson intervals, and, with ``exploit``, the exploitability probe: a fresh DQN trained for a fixed
budget against the frozen generalist, then 200 matches of it against the generalist.
Run by ``sf2rl bench --only generalist`` (the JSON only), or with the plots::

    python bench/generalist.py --out bench/results/<date>-generalist [--exploit-steps 300000]
    python bench/generalist.py --measure runs/generalist-<stamp> --out ...   # a sweep already run by hand
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sf2rl.tools.bench import load_script

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "sweeps" / "generalist.yaml"
THRESHOLDS = (0.25, 0.4, 0.5, 0.6, 0.7, 0.8)
MATRIX_MATCHES = 10
"""Matches per (level, opponent) cell: 480 in all."""
HELD_OUT_SEED = 70_000
"""Matrix seeds start here: training envs use seeds from 0, in-trial evaluation from 500,000."""
EXPLOIT_STEPS = 300_000

champion = load_script(Path(__file__).with_name("champion.py"), "sf2rl_bench_champion")


def exploit(checkpoint: Path, sweep_file: Path, work: Path, steps: int, seed: int = 0) -> dict[str, Any]:
    """Train a fresh DQN (the generalist's own recipe) for ``steps`` env steps against the frozen ``checkpoint``.

    The exploiter plays Ryu against the generalist playing Ryu (player 2, two-controller mode); then it
    plays 200 greedy matches against it. Returns the exploiter's match win rate with its interval.
    """
    import yaml

    from sf2rl.play.evaluation import evaluate
    from sf2rl.sweep.runner import run_sweep
    from sf2rl.sweep.schema import SweepConfig

    work.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load(sweep_file.read_text())
    env = {**raw["env"], "opponent": str(checkpoint), "characters": ["ryu", "ryu"], "difficulty": 3}
    sweep = SweepConfig(
        name="generalist-exploiter", description="How much does a fresh DQN beat the frozen generalist?",
        env=env, pool=raw.get("pool", {}), dqn=raw["dqn"], seed=seed,
        stop={"training_iteration": None, "timesteps_total": steps}, checkpoint={"every": 5, "keep": 1},
        search={"metric": "episode_return_mean", "max_concurrent": 1}, storage=str(work / "runs"),
        tracking={"uri": f"sqlite:///{work}/mlflow.db", "replay": False},
    )  # fmt: skip
    path = work / "exploiter.yaml"
    path.write_text(yaml.safe_dump(sweep.model_dump(mode="json")))
    t0 = time.perf_counter()
    outcome = run_sweep(sweep, path)
    train_s = time.perf_counter() - t0
    if outcome.best_checkpoint is None:
        raise RuntimeError("the exploiter trial left no checkpoint")
    report = evaluate(str(outcome.best_checkpoint), [3], 200, characters=["ryu"], opponents=["ryu"], workers=2,
                      seed=HELD_OUT_SEED + 9_000, vs=str(checkpoint))  # fmt: skip
    return {"env_steps": steps, "matches": report["matches"], "wins": report["wins"],
            "win_rate": report["win_rate"], "ci95": report["ci95"], "sweep_s": round(train_s, 1)}  # fmt: skip


def measure(exp_dir: str, uri: str, name: str, work: Path, quick: bool = False, out: Path | None = None,
            exploit_steps: int = 0, sweep_file: Path = SWEEP) -> dict[str, Any]:  # fmt: skip
    """`sf2rl best`, the matrix, level 3 Ken and (optionally) the exploitability probe on a finished sweep."""
    from sf2rl.core.game.specs import get_game
    from sf2rl.play.evaluation import evaluate
    from sf2rl.play.matrix import ALL_LEVELS, from_report, heatmap, subset_score
    from sf2rl.sweep.best import best_checkpoint
    from sf2rl.sweep.schema import load_sweep

    cell, ken = (2, 40) if quick else (MATRIX_MATCHES, 200)
    start, sweep_s = champion._sweep_span(uri, name)
    best = best_checkpoint(uri, name, work / "best")
    opponents = list(get_game(load_sweep(sweep_file).env.game).characters)
    wide = evaluate(str(best.path), ALL_LEVELS, cell * len(opponents), characters=["ryu"], opponents=opponents,
                    workers=2, seed=HELD_OUT_SEED)  # fmt: skip
    level3 = evaluate(str(best.path), [3], ken, characters=["ryu"], opponents=["ken"], workers=2,
                      seed=HELD_OUT_SEED + 5_000)  # fmt: skip
    curves = champion.eval_curves(exp_dir, start)
    m = from_report(wide)
    report: dict[str, Any] = {
        "sweep": sweep_file.name, "quick": quick, "sweep_s": round(sweep_s, 1),
        "best": {"run_name": best.run_name, "metric": best.metric, "score": best.score, "checkpoint": best.path.name},
        "matrix_levels_1_4": subset_score(m, [1, 2, 3, 4]), "matrix_all": subset_score(m),
        "level3_ken": {k: level3[k] for k in ("matches", "wins", "win_rate", "ci95", "rounds_won", "rounds_lost")},
        "seconds_to_eval_win_rate": champion.time_to(curves, THRESHOLDS), "eval_curves": curves, "matrix": m,
        "held_out_seeds_from": HELD_OUT_SEED,
    }  # fmt: skip
    if out is not None:  # written before the probe, so a failed probe loses no measurement
        out.mkdir(parents=True, exist_ok=True)
        final = {**report["matrix_all"], "sweep_s": sweep_s}
        champion.plot(curves, final, out / "curve.png", f"{sweep_file.name}: in-trial evaluations over the matrix",
                      "greedy win rate over levels 1-8 x 6 opponents")  # fmt: skip
        heatmap(m, out / "matrix.png", f"generalist ({best.run_name}): match win rate, {cell} matches per cell")
        (out / "report.json").write_text(json.dumps(report, indent=2))
    if exploit_steps:
        report["exploitability"] = exploit(best.path, sweep_file, work / "exploit", exploit_steps)
        if out is not None:
            (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def run(quick: bool = False, out: Path | None = None, sweep_file: Path | None = None,
        exploit_steps: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Sweep, pick, evaluate (and probe); ``quick`` trains 4 minutes and plays fewer matches (a smoke test)."""
    sweep_file = Path(sweep_file or SWEEP).resolve()
    steps = exploit_steps if exploit_steps is not None else (20_000 if quick else EXPLOIT_STEPS)
    with tempfile.TemporaryDirectory(prefix="sf2bench-generalist-") as tmp:
        sweep, outcome = champion.run_sweep_file(sweep_file, tmp, quick, quick_s=240)
        return measure(outcome.experiment_dir, sweep.tracking.uri, sweep.name, Path(tmp), quick, out, steps,
                       sweep_file)  # fmt: skip


def main() -> None:
    """Run the whole reproduction and write report.json, curve.png, matrix.png into ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sweep", type=Path, default=SWEEP)
    ap.add_argument("--measure", metavar="TUNE_DIR", help="skip the sweep: measure this finished run")
    ap.add_argument("--tracking-uri", default="sqlite:///mlflow.db", help="its MLflow store (with --measure)")
    ap.add_argument("--exploit-steps", type=int, default=EXPLOIT_STEPS, help="exploiter's budget (0: no probe)")
    args = ap.parse_args()
    if args.measure:
        from sf2rl.sweep.schema import load_sweep

        name = load_sweep(args.sweep).name
        with tempfile.TemporaryDirectory(prefix="sf2bench-generalist-") as tmp:
            report = measure(args.measure, args.tracking_uri, name, Path(tmp), args.quick, args.out,
                             args.exploit_steps, args.sweep)  # fmt: skip
    else:
        report = run(args.quick, args.out, args.sweep, args.exploit_steps)
    keys = ("sweep_s", "best", "matrix_levels_1_4", "matrix_all", "level3_ken", "seconds_to_eval_win_rate",
            "exploitability")  # fmt: skip
    print(json.dumps({k: report.get(k) for k in keys}, indent=2))


if __name__ == "__main__":
    main()
