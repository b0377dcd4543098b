"""Sweep summary artifacts: parameters vs. the final metric, and overlaid reward curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: sweeps run on clusters and CI
import matplotlib.pyplot as plt
import plotly.graph_objects as go


def parallel_coordinates(rows: list[dict[str, Any]], metric: str, out: Path) -> Path:
    """Interactive HTML: one line per trial across its swept params and final metric."""
    keys = sorted({k for r in rows for k in r["params"]})
    dims = []
    for key in [*keys, metric]:
        values = [r["params"].get(key) if key != metric else r.get("final") for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None):
            dims.append({"label": key, "values": [float("nan") if v is None else v for v in values]})
        else:
            labels = sorted({str(v) for v in values})
            dims.append(
                {
                    "label": key,
                    "values": [labels.index(str(v)) for v in values],
                    "tickvals": list(range(len(labels))),
                    "ticktext": labels,
                }
            )
    finals = [r.get("final") or 0.0 for r in rows]
    fig = go.Figure(go.Parcoords(line={"color": finals, "colorscale": "Viridis", "showscale": True}, dimensions=dims))
    fig.update_layout(title=f"Swept parameters vs. final {metric}")
    fig.write_html(out, include_plotlyjs=True)
    return out


def reward_curves(rows: list[dict[str, Any]], metric: str, out: Path) -> Path:
    """PNG: every trial's metric per iteration, overlaid."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for r in rows:
        if r["curve"]:
            xs, ys = zip(*r["curve"], strict=True)
            label = " ".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(r["params"].items())) or r["name"]
            ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.set_xlabel("training iteration")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per trial")
    ax.grid(alpha=0.3)
    if rows:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
