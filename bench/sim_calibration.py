"""Calibration of the built-in simulator: win rates of reference players.

``run()`` plays full best-of-3 matches (seed ``i`` for match ``i``, no
rendering) and returns win rates:

* against CPU level 3 (P1 Ryu vs P2 Ken, agent steps of 4 frames):
  - ``random``: each step one uniformly random direction (none or one of 8)
    and one uniformly random attack button (none or one of 6), as in the
    talk's MultiDiscrete action set;
  - ``random_mask``: each step a uniformly random 12-bit mask (any buttons);
  - ``mash``: per attack button, press it alone on every other step;
  - ``heuristic``: ``HeuristicAgent`` (fireball zoning, uppercut anti-air);
* CPU level L against CPU level 1 for L = 1..8, both sides driven by
  ``CpuAgent`` in two-controller mode (Ryu mirror, one call per frame);
  and, for information, level L against level L - 1.

Targets (issue 3): random (both kinds) <= 5 %, each mash <= 15 %, heuristic
30-70 %, level 8 vs 1 >= 90 % and non-decreasing in L. Draws count as not won.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from typing import Any

from emulator_worker.sim import BUTTONS, CpuAgent, HeuristicAgent, SF2Sim
from emulator_worker.sim.rng import Rng

AGENT_FRAMES = 4
VS_LEVEL = 3
ATTACK_NAMES = ("Y", "X", "L", "B", "A", "R")
_DIRECTIONS = (0, 1, 2, 4, 8, 1 | 4, 1 | 8, 2 | 4, 2 | 8)  # none, U, D, L, R, diagonals
_ATTACKS = (0, *(1 << BUTTONS.index(b) for b in ATTACK_NAMES))
MATCH_FRAME_LIMIT = 60 * 60 * 10  # a safety net only; matches end far sooner


def _random_agent(seed: int) -> Any:
    rng = random.Random(seed)

    def act(_ram: Any, _player: int) -> int:
        return rng.choice(_DIRECTIONS) | rng.choice(_ATTACKS)

    return act


def _random_mask_agent(seed: int) -> Any:
    rng = random.Random(seed)

    def act(_ram: Any, _player: int) -> int:
        return rng.randrange(1 << len(BUTTONS))

    return act


def _mash_agent(button: str) -> Any:
    bit = 1 << BUTTONS.index(button)
    step = [0]

    def act(_ram: Any, _player: int) -> int:
        step[0] += 1
        return bit if step[0] % 2 else 0

    return act


def play_vs_cpu(kind: str, arg: str, seed: int, level: int = VS_LEVEL) -> int:
    """One match of an agent (P1) against the CPU; returns the match winner (1, 2, 3)."""
    sim = SF2Sim(seed)
    sim.reset(seed=seed, characters=(0, 1), difficulty=level)
    if kind == "random":
        agent = _random_agent(seed + 7_000_003)
    elif kind == "random_mask":
        agent = _random_mask_agent(seed + 9_000_011)
    elif kind == "mash":
        agent = _mash_agent(arg)
    else:
        agent = HeuristicAgent(AGENT_FRAMES)
    frames = 0
    while not sim.match_over and frames < MATCH_FRAME_LIMIT:
        sim.step(agent(sim.ram(), 0), 0, AGENT_FRAMES)
        frames += AGENT_FRAMES
    return int(sim.ram()[0x1B])


def play_cpu_vs_cpu(level: int, seed: int, opponent: int = 1) -> int:
    """One CPU(level) vs CPU(opponent) match in two-controller mode; the match winner."""
    sim = SF2Sim(seed)
    sim.reset(seed=seed, characters=(0, 0), two_player=True)
    p1 = CpuAgent(level, Rng(seed * 2 + 1))
    p2 = CpuAgent(opponent, Rng(seed * 2 + 2))
    step = sim.step
    frames = 0
    while not sim.match_over and frames < MATCH_FRAME_LIMIT:
        step(p1(sim, 0), p2(sim, 1), 1)
        frames += 1
    return int(sim.ram()[0x1B])


def play_matchup(pair: tuple[int, int], seed: int, level: int = 6) -> int:
    """One CPU vs CPU match at the same ``level``, P1 playing roster index ``pair[0]``, P2 ``pair[1]``."""
    sim = SF2Sim(seed)
    sim.reset(seed=seed, characters=pair, two_player=True)
    p1, p2 = CpuAgent(level, Rng(seed * 2 + 1)), CpuAgent(level, Rng(seed * 2 + 2))
    frames = 0
    while not sim.match_over and frames < MATCH_FRAME_LIMIT:
        sim.step(p1(sim, 0), p2(sim, 1), 1)
        frames += 1
    return int(sim.ram()[0x1B])


def _matchup_job(job: tuple[tuple[int, int], int, int]) -> tuple[tuple[int, int], int]:
    pair, seed, level = job
    return pair, play_matchup(pair, seed, level)


def matchups(matches: int = 30, level: int = 6, workers: int | None = None) -> dict[str, Any]:
    """P1's match win rate for every pair of roster characters, both sides the CPU at ``level``."""
    from emulator_worker.sim.characters import ROSTER

    start = time.perf_counter()
    names = [c.name for c in ROSTER]
    jobs = [((a, b), seed, level) for a in range(len(names)) for b in range(len(names)) for seed in range(matches)]
    with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:
        results = list(pool.map(_matchup_job, jobs, chunksize=8))
    wins: dict[tuple[int, int], int] = {}
    for pair, winner in results:
        wins[pair] = wins.get(pair, 0) + (winner == 1)
    table = {names[a]: {names[b]: wins.get((a, b), 0) / matches for b in range(len(names))} for a in range(len(names))}
    return {"matches_per_pair": matches, "level": level, "p1_win_rate": table,
            "seconds": time.perf_counter() - start}  # fmt: skip


def _job(job: tuple[str, Any, int]) -> tuple[str, Any, int]:
    kind, arg, seed = job
    if kind == "cpu":
        return kind, arg, play_cpu_vs_cpu(arg, seed)
    if kind == "cpu_prev":
        return kind, arg, play_cpu_vs_cpu(arg, seed, arg - 1)
    return kind, arg, play_vs_cpu(kind, arg, seed)


def run(
    matches: int = 200,
    workers: int | None = None,
    levels: tuple[int, ...] = tuple(range(1, 9)),
    include: tuple[str, ...] = ("random", "random_mask", "mash", "heuristic", "cpu", "cpu_prev"),
) -> dict[str, Any]:
    """Play the calibration matches and return win rates (fractions) and pass/fail checks.

    ``workers`` processes share the matches (default: all cores); results do not
    depend on it.
    """
    start = time.perf_counter()
    jobs: list[tuple[str, Any, int]] = []
    for seed in range(matches):
        for kind in ("random", "random_mask", "heuristic"):
            if kind in include:
                jobs.append((kind, "", seed))
        if "mash" in include:
            jobs += [("mash", b, seed) for b in ATTACK_NAMES]
        if "cpu" in include:
            jobs += [("cpu", level, seed) for level in levels]
        if "cpu_prev" in include:
            jobs += [("cpu_prev", level, seed) for level in levels if level > 1]
    n_workers = workers or os.cpu_count() or 1
    if n_workers > 1:
        with ProcessPoolExecutor(n_workers) as pool:
            results = list(pool.map(_job, jobs, chunksize=8))
    else:
        results = [_job(j) for j in jobs]
    wins: dict[tuple[str, Any], int] = {}
    for kind, arg, winner in results:
        wins[(kind, arg)] = wins.get((kind, arg), 0) + (winner == 1)

    def rate(kind: str, arg: Any) -> float:
        return wins.get((kind, arg), 0) / matches

    out: dict[str, Any] = {"matches": matches, "vs_level": VS_LEVEL}
    checks: dict[str, bool] = {}
    for kind in ("random", "random_mask"):
        if kind in include:
            out[kind] = rate(kind, "")
            checks[f"{kind} <= 5%"] = out[kind] <= 0.05
    if "mash" in include:
        out["mash"] = {b: rate("mash", b) for b in ATTACK_NAMES}
        checks["each mash <= 15%"] = max(out["mash"].values()) <= 0.15
    if "heuristic" in include:
        out["heuristic"] = rate("heuristic", "")
        checks["heuristic 30-70%"] = 0.30 <= out["heuristic"] <= 0.70
    if "cpu" in include:
        curve = {level: rate("cpu", level) for level in levels}
        out["cpu_vs_level1"] = curve
        values = [curve[level] for level in sorted(curve)]
        if 8 in curve:
            checks["level 8 vs 1 >= 90%"] = curve[8] >= 0.90
        checks["monotonic in level"] = all(a <= b for a, b in pairwise(values))
    if "cpu_prev" in include:
        out["cpu_vs_previous_level"] = {level: rate("cpu_prev", level) for level in levels if level > 1}
    out["checks"] = checks
    out["ok"] = all(checks.values())
    out["seconds"] = time.perf_counter() - start
    return out


if __name__ == "__main__":  # pragma: no cover - manual runs
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(json.dumps(run(n), indent=2))
