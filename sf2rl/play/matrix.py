"""The generalisation matrix of `sf2rl eval --matrix`: win rate per CPU level and opponent character.

An agent trained against one opponent at one level can exploit that CPU and little else
(FightLadder's finding); the matrix shows how far what it learned carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sf2rl.play.arena import MatchResult
from sf2rl.play.scoring import score, wilson

ALL_LEVELS = list(range(1, 9))


def _cells(results: list[MatchResult], levels: list[int], opponents: list[str]) -> dict[str, dict[str, Any]]:
    cells: dict[str, dict[str, Any]] = {}
    for level in levels:
        row: dict[str, Any] = {}
        for opp in opponents:
            rs = [r for r in results if r.level == level and r.characters[1] == opp]
            if rs:
                row[opp] = score(rs)
        cells[str(level)] = row
    return cells


def matrix(results: list[MatchResult]) -> dict[str, Any]:
    """Cells keyed by level, then opponent character: each cell's score (win rate, Wilson interval).

    ``agents`` lists the agent's own characters; with more than one, ``by_agent`` holds each one's
    cells as well (the agent-character axis), while ``cells`` pools them.
    """
    levels = sorted({r.level for r in results})
    opponents = sorted({r.characters[1] for r in results})
    agents = sorted({r.characters[0] for r in results})
    out: dict[str, Any] = {"levels": levels, "opponents": opponents, "agents": agents,
                           "cells": _cells(results, levels, opponents)}  # fmt: skip
    if len(agents) > 1:
        out["by_agent"] = {a: _cells([r for r in results if r.characters[0] == a], levels, opponents) for a in agents}
    return out


def subset_score(m: dict[str, Any], levels: list[int] | None = None) -> dict[str, Any]:
    """Pooled wins, matches, win rate and Wilson interval over the cells at ``levels`` (default all)."""
    wins = matches = 0
    for level in levels or m["levels"]:
        for cell in m["cells"].get(str(level), {}).values():
            wins += cell["wins"]
            matches += cell["matches"]
    lo, hi = wilson(wins, matches)
    return {"matches": matches, "wins": wins, "win_rate": wins / matches if matches else 0.0,
            "ci95": [round(lo, 4), round(hi, 4)]}  # fmt: skip


def from_report(report: dict[str, Any]) -> dict[str, Any]:
    """The matrix of an `sf2rl eval` report (its ``results`` are the matches as JSON)."""
    return matrix([MatchResult(**{**r, "characters": tuple(r["characters"])}) for r in report["results"]])


def heatmap(m: dict[str, Any], path: Path, title: str) -> Path:
    """A level x opponent heatmap of win rates, each cell labelled with wins/matches; one panel per agent."""
    import matplotlib

    matplotlib.use("Agg")  # headless: evaluations run on clusters and CI
    import matplotlib.pyplot as plt
    import numpy as np

    levels, opps = m["levels"], m["opponents"]
    panels = m.get("by_agent") or {"/".join(m.get("agents", [])): m["cells"]}
    width = 1.2 * len(opps) + 2.5
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), 0.55 * len(levels) + 2.0), squeeze=False,
                             layout="constrained")  # fmt: skip
    image = None
    for k, (ax, (agent, cells)) in enumerate(zip(axes[0], panels.items(), strict=True)):
        rates = np.full((len(levels), len(opps)), np.nan)
        for i, level in enumerate(levels):
            for j, opp in enumerate(opps):
                cell = cells[str(level)].get(opp)
                if cell is not None:
                    rates[i, j] = cell["win_rate"]
                    ax.text(j, i, f"{cell['wins']}/{cell['matches']}", ha="center", va="center", fontsize=8)
        image = ax.imshow(rates, vmin=0.0, vmax=1.0, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(opps)), opps)
        ax.set_yticks(range(len(levels)), [f"level {lv}" for lv in levels] if k == 0 else [])
        ax.set_xlabel("CPU opponent")
        if len(panels) > 1:
            ax.set_title(f"agent: {agent}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    assert image is not None
    fig.colorbar(image, ax=axes[0].tolist(), label="match win rate")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
