"""The champion, reproduced end to end: run ``sweeps/champion.yaml``, pull its best checkpoint, evaluate it.

Exactly the user's three commands, in-process: ``sf2rl sweep sweeps/champion.yaml``, ``sf2rl best
champion``, then ``sf2rl eval <ckpt> --level 3 --matches 200`` and the generalisation matrix
(``--matrix``: CPU levels 1-8 x every opponent character). Records the sweep's wall time, the
wall time at which a trial's greedy evaluation first reached each win rate, the final win rate
with its Wilson interval, and writes a curve plot and the matrix heatmap beside the JSON.
Run by ``sf2rl bench --only champion [--sweep FILE]`` (the JSON only), or with the plots::

    python bench/champion.py --out bench/results/<date>-champion [--sweep sweeps/quick-champion.yaml]
    python bench/champion.py --measure runs/champion-<stamp> --out ...   # a sweep already run by hand
    python bench/champion.py --measure runs/<name>-<stamp> --sweep FILE --curves-only --out FILE.json
        # a lever sweep: each trial's time to each win rate, no checkpoint evaluated

Any sweep file can stand in for the champion's: its name finds the MLflow experiment, and its
``evaluation.difficulty`` (default 3) is the level of the 200-match evaluation.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

SWEEP = Path(__file__).resolve().parents[1] / "sweeps" / "champion.yaml"
THRESHOLDS = (0.25, 0.5, 0.6, 0.7, 0.8, 0.9)
MATRIX_MATCHES = 10
"""Matches per (level, opponent) cell: 480 in all, about five minutes on 2 cores."""


def eval_curves(exp_dir: str, start: float) -> dict[str, list[list[float]]]:
    """Each trial's greedy evaluations as [seconds since the sweep started, env steps, eval_win_rate]."""
    curves: dict[str, list[list[float]]] = {}
    for result_file in sorted(Path(exp_dir).glob("*/result.json")):
        rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        points, last = [], None
        for r in rows:
            rate, matches = r.get("eval_win_rate"), r.get("eval_matches")
            key = (rate, r.get("eval_time_s"))
            if isinstance(rate, (int, float)) and matches and rate == rate and key != last:
                points.append([round(r["wall_time"] - start, 1), float(r.get("env_steps_total", 0)), float(rate)])
            last = key
        curves[result_file.parent.name] = points
    return curves


def time_to(curves: dict[str, list[list[float]]], thresholds: tuple[float, ...] = THRESHOLDS) -> dict[str, Any]:
    """Seconds since the sweep started until any trial's evaluation first reached each win rate (None: never)."""
    out: dict[str, Any] = {}
    for t in thresholds:
        hits = [p[0] for pts in curves.values() for p in pts if p[2] >= t]
        out[f"{t:.2f}"] = min(hits) if hits else None
    return out


def curves_only(exp_dir: str, uri: str, sweep_file: Path) -> dict[str, Any]:
    """A lever sweep's record: each trial's evaluations and its own time to each win rate, nothing evaluated."""
    from sf2rl.sweep.schema import load_sweep

    start, sweep_s = _sweep_span(uri, load_sweep(sweep_file).name)
    curves = eval_curves(exp_dir, start)
    return {"sweep": str(sweep_file), "sweep_s": round(sweep_s, 1), "run": Path(exp_dir).name,
            "seconds_to_eval_win_rate": {trial: time_to({trial: pts}) for trial, pts in curves.items()},
            "eval_curves": curves}  # fmt: skip


def plot(curves: dict[str, list[list[float]]], final: dict[str, Any], path: Path, title: str = "",
         ylabel: str = "greedy win rate vs CPU level 3") -> Path:  # fmt: skip
    """eval_win_rate against wall time per trial, with the final 200-match result as a point with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, pts in curves.items():
        if pts:
            ax.plot([p[0] / 60 for p in pts], [p[2] for p in pts], marker="o", ms=3, label=name.split("_", 3)[-1])
    x = final["sweep_s"] / 60
    lo, hi = final["ci95"]
    ax.errorbar([x], [final["win_rate"]], yerr=[[final["win_rate"] - lo], [hi - final["win_rate"]]], fmt="D",
                color="black", capsize=4, label=f"best checkpoint, {final['matches']} matches")  # fmt: skip
    ax.axhline(0.8, color="grey", ls=":", lw=1)
    ax.set_xlabel("wall time since `sf2rl sweep` started (minutes, 2 cores)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "sweeps/champion.yaml: 20-match evaluations during training", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _sweep_span(uri: str, name: str) -> tuple[float, float]:
    """(start, seconds) of the newest `sf2rl sweep` of ``name``, from its MLflow parent run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        raise RuntimeError(f"no MLflow experiment {name!r} at {uri}")
    [parent] = client.search_runs([exp.experiment_id], "tags.`sf2rl.kind` = 'sweep'", max_results=1,
                                  order_by=["attributes.start_time DESC"])  # fmt: skip
    end = parent.info.end_time or parent.info.start_time
    return parent.info.start_time / 1000, (end - parent.info.start_time) / 1000


def measure(exp_dir: str, uri: str, name: str, work: Path, quick: bool = False,
            out: Path | None = None, sweep_file: Path = SWEEP) -> dict[str, Any]:  # fmt: skip
    """`sf2rl best`, then `sf2rl eval` on a finished sweep: 200 matches at its evaluation level, and the matrix."""
    from sf2rl.core.game.specs import get_game
    from sf2rl.play.evaluation import evaluate
    from sf2rl.play.matrix import ALL_LEVELS, from_report, heatmap
    from sf2rl.sweep.best import best_checkpoint
    from sf2rl.sweep.schema import load_sweep

    sweep = load_sweep(sweep_file)
    level = sweep.evaluation.difficulty or 3
    matches, cell = (40, 2) if quick else (200, MATRIX_MATCHES)
    start, sweep_s = _sweep_span(uri, name)
    best = best_checkpoint(uri, name, work / "best")
    final = evaluate(str(best.path), [level], matches, workers=2, seed=1)
    opponents = list(get_game(sweep.env.game).characters)
    wide = evaluate(str(best.path), ALL_LEVELS, cell * len(opponents), opponents=opponents, workers=2, seed=2)
    curves = eval_curves(exp_dir, start)
    m = from_report(wide)
    report: dict[str, Any] = {
        "sweep": sweep_file.name, "quick": quick, "sweep_s": round(sweep_s, 1), "level": level,
        "best": {"run_name": best.run_name, "metric": best.metric, "score": best.score,
                 "checkpoint": best.path.name},
        "final": {k: final[k] for k in ("matches", "wins", "win_rate", "ci95", "rounds_won", "rounds_lost",
                                        "avg_health_left", "truncated")},
        "seconds_to_eval_win_rate": time_to(curves), "eval_curves": curves,
        "matrix": m, "matrix_win_rate": wide["win_rate"], "matrix_ci95": wide["ci95"],
    }  # fmt: skip
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        plot(curves, {**report["final"], "sweep_s": sweep_s}, out / "curve.png",
             f"{sweep_file}: greedy evaluations during training", f"greedy win rate vs CPU level {level}")  # fmt: skip
        heatmap(m, out / "matrix.png", f"{sweep.name} ({best.run_name}): match win rate, {cell} matches per cell")
        (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def run_sweep_file(sweep_file: Path, tmp: str, quick: bool, quick_s: float = 180) -> tuple[Any, Any]:
    """Run ``sweep_file`` as `sf2rl sweep` would, into ``tmp``; ``quick`` trains ``quick_s`` seconds per trial."""
    import yaml

    from sf2rl.sweep.runner import run_sweep
    from sf2rl.sweep.schema import SweepConfig

    raw = yaml.safe_load(sweep_file.read_text())
    raw.update(storage=f"{tmp}/runs", tracking={"uri": f"sqlite:///{tmp}/mlflow.db"})
    if quick:
        raw["stop"] = {"training_iteration": None, "time_total_s": quick_s}
    sweep = SweepConfig(**raw)
    outcome = run_sweep(sweep, sweep_file)
    if outcome.errored:
        raise RuntimeError(f"{sweep_file.name}: {outcome.errored} trial(s) errored")
    return sweep, outcome


def run(quick: bool = False, out: Path | None = None, sweep_file: Path | None = None) -> dict[str, Any]:
    """Sweep, pick, evaluate; ``quick`` trains 3 minutes and plays fewer matches (a smoke test, not the figure)."""
    sweep_file = Path(sweep_file or SWEEP).resolve()
    with tempfile.TemporaryDirectory(prefix="sf2bench-champion-") as tmp:
        sweep, outcome = run_sweep_file(sweep_file, tmp, quick)
        return measure(outcome.experiment_dir, sweep.tracking.uri, sweep.name, Path(tmp), quick, out, sweep_file)


def main() -> None:
    """Run the whole reproduction and write report.json, curve.png, matrix.png into ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--measure", metavar="TUNE_DIR", help="skip the sweep: measure this finished champion run")
    ap.add_argument("--tracking-uri", default="sqlite:///mlflow.db", help="its MLflow store (with --measure)")
    ap.add_argument("--sweep", type=Path, default=SWEEP, help="the sweep file (default sweeps/champion.yaml)")
    ap.add_argument(
        "--curves-only",
        action="store_true",
        help="with --measure: each trial's time to each win rate into --out (a JSON file), no evaluation",
    )
    args = ap.parse_args()
    if args.curves_only:
        if not args.measure:
            ap.error("--curves-only needs --measure TUNE_DIR")
        record = curves_only(args.measure, args.tracking_uri, args.sweep)
        args.out.write_text(json.dumps(record, indent=2))
        print(json.dumps(record["seconds_to_eval_win_rate"], indent=2))
        return
    if args.measure:
        from sf2rl.sweep.schema import load_sweep

        name = load_sweep(args.sweep).name
        with tempfile.TemporaryDirectory(prefix="sf2bench-champion-") as tmp:
            report = measure(args.measure, args.tracking_uri, name, Path(tmp), args.quick, args.out, args.sweep)
    else:
        report = run(args.quick, args.out, args.sweep)
    print(json.dumps({k: report[k] for k in ("sweep_s", "best", "final", "seconds_to_eval_win_rate")}, indent=2))


if __name__ == "__main__":
    main()
