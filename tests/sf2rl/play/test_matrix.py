"""The generalisation matrix: cells per level and opponent, an agent-character axis, pooled subsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from sf2rl.play.arena import MatchResult
from sf2rl.play.matrix import heatmap, matrix, subset_score


def _result(level: int, agent: str, opp: str, won: bool, i: int = 0) -> MatchResult:
    return MatchResult(i, "", "p", "cpu", level, i, (agent, opp), won, not won, 10, 0, 2 * won, 2 * (not won), 100,
                       False)  # fmt: skip


def test_cells_pool_agents_and_by_agent_keeps_each_ones_cells(tmp_path: Path) -> None:
    results = [
        *[_result(1, "ryu", "ken", True, i) for i in range(3)],
        _result(1, "ken", "ken", False),
        _result(2, "ryu", "guile", False),
        _result(2, "ken", "guile", True),
    ]
    m = matrix(results)
    assert m["agents"] == ["ken", "ryu"] and m["levels"] == [1, 2] and m["opponents"] == ["guile", "ken"]
    assert m["cells"]["1"]["ken"]["wins"] == 3 and m["cells"]["1"]["ken"]["matches"] == 4
    assert m["by_agent"]["ryu"]["1"]["ken"]["win_rate"] == 1.0
    assert m["by_agent"]["ken"]["1"]["ken"]["win_rate"] == 0.0
    assert m["by_agent"]["ken"]["2"]["guile"]["wins"] == 1
    png = heatmap(m, tmp_path / "m.png", "two agents")
    assert png.stat().st_size > 1000
    one = matrix([r for r in results if r.characters[0] == "ryu"])
    assert "by_agent" not in one and one["agents"] == ["ryu"]


def test_subset_score_pools_the_cells_of_some_levels_with_an_interval() -> None:
    results = [_result(lv, "ryu", opp, lv <= 2, i) for i, (lv, opp) in enumerate(
        (lv, opp) for lv in (1, 2, 3, 4) for opp in ("ken", "guile"))]  # fmt: skip
    m = matrix(results)
    low = subset_score(m, [1, 2])
    assert (low["wins"], low["matches"], low["win_rate"]) == (4, 4, 1.0)
    assert low["ci95"][0] == pytest.approx(0.5101, abs=1e-3) and low["ci95"][1] == 1.0
    assert subset_score(m)["win_rate"] == 0.5 and subset_score(m, [4])["wins"] == 0
