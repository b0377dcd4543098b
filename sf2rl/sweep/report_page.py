"""`report.html`: one self-contained page that answers "what mattered" for a sweep.

The question (the sweep's description), the parameter matrix with every trial's final
metrics, curves overlaid against iterations, env steps and wall time, parameter
importance, the best trial's replay, and any `sf2rl eval --run-id` results. Images are
embedded as data URIs and nothing is fetched from elsewhere, so the page opens offline
and as an MLflow artifact. The data behind it is kept beside it as `report.json`, so
`sf2rl eval --run-id` can add its results and render the page again.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: sweeps run on clusters and CI
import matplotlib.pyplot as plt
from mlflow.tracking import MlflowClient

from sf2rl.core.tags import PARENT_TAG, TAG_KIND

X_AXES = {"training_iteration": "training iteration", "env_steps_total": "env steps", "time_total_s": "seconds"}
"""The x axes curves are drawn against: trials with different frame skips or batch sizes compare fairly
only against env steps or wall time."""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _label(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(params.items())) or "trial"


def curves_figure(trials: list[dict[str, Any]], metric: str) -> str:
    """A PNG data URI: ``metric`` per trial against each x axis, side by side."""
    fig, axes = plt.subplots(1, len(X_AXES), figsize=(15, 4), squeeze=False)
    for ax, (x, xlabel) in zip(axes[0], X_AXES.items(), strict=True):
        for t in trials:
            xs, ys = t["history"].get(x, []), t["history"].get(metric, [])
            pts = [(a, b) for a, b in zip(xs, ys, strict=False) if math.isfinite(a) and math.isfinite(b)]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", markersize=2, label=_label(t["params"]))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    if any(t["history"].get(metric) for t in trials):
        axes[0][0].legend(fontsize=7, loc="best")
    return _png(fig)


def importance_figure(importance: Mapping[str, Mapping[str, float]]) -> str | None:
    """A PNG data URI of the importance bars, or None when nothing could be computed."""
    shown = {m: v for m, v in importance.items() if v}
    if not shown:
        return None
    rows = max(len(v) for v in shown.values())
    fig, axes = plt.subplots(1, len(shown), figsize=(5 * len(shown), 0.8 + 0.45 * rows), squeeze=False)
    for ax, (metric, values) in zip(axes[0], shown.items(), strict=True):
        keys = sorted(values, key=lambda k: values[k])
        ax.barh(keys, [values[k] for k in keys], color="#3b7dd8")
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of variance (fANOVA)")
        ax.set_title(metric)
    return _png(fig)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{v:.4g}"
    return html.escape(str(v))


def render(data: Mapping[str, Any]) -> str:
    """The page for ``data`` (see :func:`sf2rl.sweep.runner.summarize` for what it holds)."""
    e = html.escape
    trials, metric = data["trials"], data["metric"]
    keys = sorted({k for t in trials for k in t["params"]})
    finals = [m for m in data["final_metrics"] if any(m in t["final"] for t in trials)]
    head = "".join(f"<th>{e(k)}</th>" for k in ["trial", *keys, *finals])
    body = "".join(
        "<tr" + (' class="best"' if t["name"] == data.get("best") else "") + ">"
        + f"<td>{e(t['name'])}</td>" + "".join(f"<td>{_fmt(t['params'].get(k, ''))}</td>" for k in keys)
        + "".join(f"<td>{_fmt(t['final'].get(m, float('nan')))}</td>" for m in finals) + "</tr>"
        for t in trials
    )  # fmt: skip
    parts = [
        f"<h1>{e(data['name'])}</h1>",
        f"<p class='question'>{e(data.get('description') or 'No description in the sweep file.')}</p>",
        f"<p>{len(trials)} trials, ranked by <b>{e(metric)}</b> ({e(data['mode'])}); best: "
        f"<b>{e(str(data.get('best') or '–'))}</b>.</p>",
        "<h2>Parameter matrix</h2>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        "<h2>Curves</h2>",
    ]
    for m in data["curve_metrics"]:
        if any(t["history"].get(m) for t in trials):
            parts.append(f"<h3>{e(m)}</h3><img alt='{e(m)} curves' src='{curves_figure(trials, m)}'>")
    parts.append("<h2>What mattered</h2>")
    imp = data.get("importance") or {}
    figure = importance_figure(imp)
    if figure is None:
        parts.append("<p>Too few finished trials, or no swept key that varied, to tell.</p>")
    else:
        rows = "".join(
            f"<tr><td>{e(m)}</td><td>{e(k)}</td><td>{v:.1%}</td></tr>"
            for m, values in imp.items()
            for k, v in sorted(values.items(), key=lambda kv: -kv[1])
        )
        parts += [
            f"<img alt='parameter importance' src='{figure}'>",
            f"<table><thead><tr><th>metric</th><th>key</th><th>share</th></tr></thead><tbody>{rows}</tbody></table>",
            "<p class='note'>fANOVA on the trials' final values (Optuna); with few trials, read it as a hint.</p>",
        ]
    if data.get("replay_gif"):
        parts += ["<h2>The best trial plays</h2>", f"<img alt='best trial replay' src='{data['replay_gif']}'>"]
    for ev in data.get("evaluations", []):
        parts.append(f"<h2>sf2rl eval: {e(ev['policy'])}</h2>")
        parts.append(
            f"<p>{ev['matches']} matches vs {e(str(ev.get('opponent', 'cpu')))}: win rate "
            f"<b>{ev['win_rate']:.1%}</b> (95% {ev['ci95'][0]:.1%}–{ev['ci95'][1]:.1%})</p>"
        )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
        "tr.best td{background:#eaf6ea;font-weight:bold}.question{font-size:1.2em;font-style:italic}"
        "img{max-width:100%}.note{color:#666}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(data['name'])}: sweep report</title><style>{style}</style></head><body>"
        + "".join(parts)
        + "</body></html>"
    )


def write(data: Mapping[str, Any], folder: Path) -> tuple[Path, Path]:
    """``report.html`` and the ``report.json`` behind it, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    page, raw = folder / "report.html", folder / "report.json"
    raw.write_text(json.dumps(data, indent=1, default=str))
    page.write_text(render(data))
    return page, raw


def gif_data_uri(path: Path) -> str:
    """A GIF file as a data URI, to embed in the page."""
    return "data:image/gif;base64," + base64.b64encode(path.read_bytes()).decode()


def add_evaluation(uri: str, run_id: str, report: Mapping[str, Any]) -> bool:
    """Add an `sf2rl eval` report to the sweep report of the sweep ``run_id`` belongs to; False if none.

    ``run_id`` may be the sweep's parent run or one of its trials' runs.
    """
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    kind = run.data.tags.get(TAG_KIND)
    parent = run_id if kind == "sweep" else run.data.tags.get(PARENT_TAG) if kind == "trial" else None
    if parent is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        try:
            folder = Path(client.download_artifacts(parent, "report", d))
        except Exception:  # a sweep from before reports, or one whose summary never ran
            return False
        data = json.loads((folder / "report.json").read_text())
        keep = ("policy", "source", "opponent", "matches", "win_rate", "ci95", "levels")
        data.setdefault("evaluations", []).append({k: report[k] for k in keep if k in report} | {"run": run_id})
        write(data, folder)
        client.log_artifacts(parent, str(folder), "report")
    return True
