"""The generalisation matrix of `sf2rl eval --matrix`: win rate per CPU level and opponent character.

An agent trained against one opponent at one level can exploit that CPU and little else
(FightLadder's finding); the matrix shows how far what it learned carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sf2rl.play.arena import MatchResult
from sf2rl.play.scoring import score

ALL_LEVELS = list(range(1, 9))


def matrix(results: list[MatchResult]) -> dict[str, Any]:
    """Cells keyed by level, then opponent character: each cell's score (win rate, Wilson interval)."""
    levels = sorted({r.level for r in results})
    opponents = sorted({r.characters[1] for r in results})
    cells: dict[str, dict[str, Any]] = {}
    for level in levels:
        row: dict[str, Any] = {}
        for opp in opponents:
            rs = [r for r in results if r.level == level and r.characters[1] == opp]
            if rs:
                row[opp] = score(rs)
        cells[str(level)] = row
    return {"levels": levels, "opponents": opponents, "cells": cells}


def from_report(report: dict[str, Any]) -> dict[str, Any]:
    """The matrix of an `sf2rl eval` report (its ``results`` are the matches as JSON)."""
    return matrix([MatchResult(**{**r, "characters": tuple(r["characters"])}) for r in report["results"]])


def heatmap(m: dict[str, Any], path: Path, title: str) -> Path:
    """A level x opponent heatmap of win rates, each cell labelled with wins/matches."""
    import matplotlib

    matplotlib.use("Agg")  # headless: evaluations run on clusters and CI
    import matplotlib.pyplot as plt
    import numpy as np

    levels, opps = m["levels"], m["opponents"]
    rates = np.full((len(levels), len(opps)), np.nan)
    for i, level in enumerate(levels):
        for j, opp in enumerate(opps):
            cell = m["cells"][str(level)].get(opp)
            if cell is not None:
                rates[i, j] = cell["win_rate"]
    fig, ax = plt.subplots(figsize=(1.2 * len(opps) + 2.5, 0.55 * len(levels) + 1.8))
    image = ax.imshow(rates, vmin=0.0, vmax=1.0, cmap="RdYlGn", aspect="auto")
    for i, level in enumerate(levels):
        for j, opp in enumerate(opps):
            cell = m["cells"][str(level)].get(opp)
            if cell is not None:
                ax.text(j, i, f"{cell['wins']}/{cell['matches']}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(opps)), opps)
    ax.set_yticks(range(len(levels)), [f"level {lv}" for lv in levels])
    ax.set_xlabel("CPU opponent")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="match win rate")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
