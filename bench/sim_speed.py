"""Single-instance speed of the built-in simulator, in emulated frames per second.

``run()`` steps one ``SF2Sim`` on one core the way an environment does: hold a
mask for ``frames_per_step`` frames with the CPU driving P2, then read the RAM
view. P1 cycles through a fixed list of masks (walks, crouches, jumps and
attacks), so the fight is busy. Reported numbers are medians over ``repeats``.
The target (issue 3) is >= 20,000 frames/s with ``frames_per_step=4``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from emulator_worker.sim import SF2Sim, buttons_to_mask

_SCRIPT = [
    buttons_to_mask(b)
    for b in (
        ("Right",),
        ("Right",),
        ("Right", "Y"),
        (),
        ("Down",),
        ("Down", "B"),
        ("Left",),
        ("Left",),
        ("Up", "Right"),
        ("X",),
        ("Down", "Right"),
        ("A",),
        (),
        ("Down", "R"),
        ("Left", "Down"),
        ("L",),
    )
]


def _measure(seconds: float, frames_per_step: int, read_ram: bool, seed: int) -> float:
    sim = SF2Sim(seed)
    sim.reset(seed=seed, difficulty=8)
    script = _SCRIPT
    n = len(script)
    frames = 0
    i = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(64):
            if sim.match_over:
                sim.reset(seed=seed + frames)
            sim.step(script[i % n], 0, frames_per_step)
            if read_ram:
                sim.ram()
            i += 1
        frames += 64 * frames_per_step
        now = time.perf_counter()
        if now >= deadline:
            return frames / (now - start)


def _measure_render(count: int, seed: int) -> float:
    sim = SF2Sim(seed)
    start = time.perf_counter()
    for k in range(count):
        sim.step(_SCRIPT[k % len(_SCRIPT)], 0, 4)
        sim.frame()
    return count / (time.perf_counter() - start)


def run(repeats: int = 5, seconds: float = 1.0, frames_per_step: int = 4, seed: int = 0) -> dict[str, Any]:
    """Measure and return medians: frames/s with RAM reads, without, and frames rendered/s."""
    with_ram = [_measure(seconds, frames_per_step, True, seed + r) for r in range(repeats)]
    no_ram = [_measure(seconds, frames_per_step, False, seed + r) for r in range(repeats)]
    step1 = [_measure(seconds, 1, True, seed + r) for r in range(repeats)]
    render = [_measure_render(200, seed + r) for r in range(max(1, repeats // 2))]
    median_fps = statistics.median(with_ram)
    return {
        "frames_per_step": frames_per_step,
        "repeats": repeats,
        "fps": median_fps,
        "fps_runs": with_ram,
        "fps_without_ram_reads": statistics.median(no_ram),
        "fps_step1_with_ram": statistics.median(step1),
        "rendered_frames_per_s": statistics.median(render),
        "target_fps": 20_000,
        "ok": median_fps >= 20_000,
    }


if __name__ == "__main__":  # pragma: no cover - manual runs
    import json

    print(json.dumps(run(), indent=2))
