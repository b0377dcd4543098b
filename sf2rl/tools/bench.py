"""`sf2rl bench`: one throughput report; every section measures side by side and quotes medians."""

from __future__ import annotations

import functools
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.table import Table

from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import ConfigError
from sf2rl.core.game.specs import get_game
from sf2rl.env.environment import SF2Env
from sf2rl.env.vector import SF2VectorEnv
from sf2rl.play.evaluation import evaluate
from sf2rl.transport.client import EmulatorClient
from sf2rl.transport.emulator import GAME_OPTION
from sf2rl.transport.pool import SpawnedPool


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _steps_per_s(env: SF2Env, steps: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    assert isinstance(env.action_space, gym.spaces.Discrete)
    actions = rng.integers(int(env.action_space.n), size=steps)
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(int(a))
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def bench_rtt(quick: bool = False) -> dict[str, Any]:
    """Round trips of HELLO to a local worker host over TCP loopback."""

    pool = SpawnedPool("sim", 1)
    pool.start()
    try:
        client = EmulatorClient(pool.endpoints[0])
        n = 500 if quick else 5000
        client.hello()
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.hello()
            samples.append((time.perf_counter() - t0) * 1e6)
        client.close()
    finally:
        pool.stop()
    return {"round_trips": n, "p50_us": float(np.percentile(samples, 50)), "p99_us": float(np.percentile(samples, 99))}


def _setup(backend: str, game: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A game's spawned-host options, and the env options (but frame skip) every comparison shares."""
    spec = get_game(game)
    options = {GAME_OPTION[backend]: spec.backends[backend]} if backend in GAME_OPTION else {}
    env = {"game": game, "action_set": "seed", "max_episode_steps": 100000,
           "characters": (spec.characters[0], spec.characters[-1])}  # fmt: skip
    return options, env


def bench_transport(backend: str, game: str, quick: bool = False) -> dict[str, Any]:
    """Env steps/s in-process vs. through a worker host, alternating runs, at frame skip 1, 4 and 20.

    A second host with ``--spin-us 0`` shows what the instances' poll-before-sleep buys.
    """
    options, shared = _setup(backend, game)
    pools = {"worker": SpawnedPool(backend, 1, options), "no_spin": SpawnedPool(backend, 1, options, spin_us=0)}
    out: dict[str, Any] = {}
    try:
        for pool in pools.values():
            pool.start()
        for skip in (1, 4, 20):
            base = {**shared, "frame_skip": skip}
            envs = {"in_process": SF2Env(EnvConfig(backend=backend, **base))}
            envs.update({name: SF2Env(EnvConfig(backend=pool.endpoints[0], **base)) for name, pool in pools.items()})
            # Many short alternating rounds: a slow spell of the machine then hits every variant alike.
            steps = max(200, (2000 if quick else 4000) // skip)
            rates: dict[str, list[float]] = {name: [] for name in envs}
            for r in range(3 if quick else 11):
                for name, env in envs.items():
                    rates[name].append(_steps_per_s(env, steps, seed=r))
            for env in envs.values():
                env.close()
            loc = rates["in_process"]
            ratios = [b / a for a, b in zip(loc, rates["worker"], strict=True)]
            out[f"frame_skip_{skip}"] = {
                "in_process_steps_per_s": _median(loc),
                "worker_steps_per_s": _median(rates["worker"]),
                "worker_frames_per_s": _median(rates["worker"]) * skip,
                "ratio_worker_vs_in_process": _median(ratios),
                "ratio_worker_vs_in_process_range": [round(min(ratios), 3), round(max(ratios), 3)],
                "ratio_no_spin_vs_in_process": _median([b / a for a, b in zip(loc, rates["no_spin"], strict=True)]),
            }
    finally:
        for pool in pools.values():
            pool.stop()
    return out


def _vector_steps_per_s(env: gym.vector.VectorEnv, steps: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    assert isinstance(env.single_action_space, gym.spaces.Discrete)
    actions = rng.integers(int(env.single_action_space.n), size=(steps, env.num_envs))
    t0 = time.perf_counter()
    for a in actions:
        env.step(a)  # both vector envs reset ended episodes themselves
    return steps * env.num_envs / (time.perf_counter() - t0)


def bench_vector(backend: str, game: str, quick: bool = False, envs: int = 2, skip: int = 4) -> dict[str, Any]:
    """Env steps/s of several envs on one thread: stepped together (SF2VectorEnv) or one after another
    (gymnasium's SyncVectorEnv), both through a worker host, against one env in-process."""
    options, shared = _setup(backend, game)
    pool = SpawnedPool(backend, 2 * envs, options)
    base = {**shared, "frame_skip": skip}
    try:
        pool.start()
        remote = EnvConfig(backend=pool.endpoints[0], **base)
        local = SF2Env(EnvConfig(backend=backend, **base))
        batched = SF2VectorEnv([remote] * envs)
        sequential = gym.vector.SyncVectorEnv([lambda: SF2Env(remote)] * envs)
        steps = max(100, (1000 if quick else 3000) // skip)
        loc, bat, seq = [], [], []
        for r in range(3 if quick else 7):
            loc.append(_steps_per_s(local, steps * envs, seed=r))
            bat.append(_vector_steps_per_s(batched, steps, seed=r))
            seq.append(_vector_steps_per_s(sequential, steps, seed=r))
        for env in (local, batched, sequential):
            env.close()
    finally:
        pool.stop()
    return {
        "envs": envs,
        "frame_skip": skip,
        "in_process_steps_per_s": _median(loc),
        "sequential_steps_per_s": _median(seq),
        "batched_steps_per_s": _median(bat),
        "ratio_batched_vs_in_process": _median([b / a for a, b in zip(loc, bat, strict=True)]),
        "ratio_batched_vs_sequential": _median([b / a for a, b in zip(seq, bat, strict=True)]),
    }


def bench_eval(quick: bool = False) -> dict[str, Any]:
    """`sf2rl eval` throughput: whole matches of two baselines vs CPU level 3, in parallel worker processes."""
    matches = 40 if quick else 200
    workers = min(2, os.cpu_count() or 1)
    out: dict[str, Any] = {"matches": matches, "workers": workers, "level": 3}
    for policy in ("random", "heuristic"):
        report = evaluate(policy, [3], matches, workers=workers, seed=0)
        out[policy] = {k: report[k] for k in ("matches_per_s", "steps_per_s", "elapsed_s", "win_rate", "ci95")}
    return out


SECTIONS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "rtt": bench_rtt,
    "eval": bench_eval,
    "transport_sim": lambda quick: bench_transport("sim", "sim", quick),
    "vector_sim": lambda quick: bench_vector("sim", "sim", quick),
}
if importlib.util.find_spec("stable_retro") is not None:
    SECTIONS["transport_retro"] = lambda quick: bench_transport("retro", "airstriker-genesis", quick)
    SECTIONS["vector_retro"] = lambda quick: bench_vector("retro", "airstriker-genesis", quick)


SWEEP_SECTIONS: dict[str, Callable[[bool, Path | None], dict[str, Any]]] = {}
"""Sections that reproduce a sweep file end to end; ``--sweep FILE`` replaces their default one."""


def _with_sweep(
    section: Callable[[bool, Path | None], dict[str, Any]], quick: bool, sweep: Path | None
) -> dict[str, Any]:
    return section(quick, sweep)


def run_bench(quick: bool = False, only: list[str] | None = None, sweep: Path | None = None) -> dict[str, Any]:
    """Run the selected sections (all by default) and return the report."""
    valid = {*SECTIONS, *SWEEP_SECTIONS}
    unknown = sorted(set(only or ()) - valid)
    if unknown:
        raise ConfigError(f"unknown bench sections {unknown}; valid: {sorted(valid)}")
    if sweep is not None and (not only or set(only) - set(SWEEP_SECTIONS)):
        raise ConfigError(f"--sweep applies to the sections {sorted(SWEEP_SECTIONS)}; name them with --only")
    report: dict[str, Any] = {"quick": quick, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    sections = dict(SECTIONS)
    for key, section in SWEEP_SECTIONS.items():
        sections[key] = functools.partial(_with_sweep, section, sweep=sweep)
    for name, fn in sections.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        report[name] = fn(quick)
        report[name]["seconds"] = round(time.perf_counter() - t0, 2)
    return report


def _flatten(prefix: str, d: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        out += _flatten(f"{prefix}{k}.", v) if isinstance(v, dict) else [(prefix + k, v)]
    return out


def print_report(report: dict[str, Any], console: Console) -> None:
    """The report as one table per section."""
    for name, section in report.items():
        if not isinstance(section, dict):
            continue
        table = Table(title=name)
        table.add_column("measure")
        table.add_column("value", justify="right")
        for key, value in _flatten("", section):
            table.add_row(key, f"{value:,.3f}" if isinstance(value, float) else str(value))
        console.print(table)


def bench_tracking(quick: bool = False) -> dict[str, Any]:
    """Sweep wall time with no tracking, sf2rl's MLflow callback, and Ray's stock one, alternating runs."""
    import tempfile

    import ray

    from sf2rl.sweep.runner import init_ray, run_sweep
    from sf2rl.sweep.schema import SweepConfig

    rounds = 1 if quick else 3
    variants: dict[str, dict[str, Any]] = {"none": {"enabled": False}, "sf2rl": {}, "ray_stock": {"callback": "ray"}}
    walls: dict[str, list[float]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory(prefix="sf2bench-") as tmp:
        init_ray(None)
        try:
            for r in range(rounds):
                for name, tracking in variants.items():
                    sweep = SweepConfig(
                        name=f"bench-{name}-{r}",
                        storage=str(Path(tmp) / "runs"),
                        env={"action_set": "minimal", "frame_skip": 8, "max_episode_steps": 40},
                        dqn={"hiddens": [32], "learning_starts": 50, "steps_per_iteration": 100},
                        space={"dqn.lr": {"grid": [0.001, 0.002]}},
                        stop={"training_iteration": 10},
                        checkpoint={"every": 5},
                        tracking={"uri": f"sqlite:///{tmp}/mlflow.db", **tracking},
                    )
                    path = Path(tmp) / f"{sweep.name}.yaml"
                    path.write_text(sweep.model_dump_json())
                    t0 = time.perf_counter()
                    run_sweep(sweep, path)
                    walls[name].append(time.perf_counter() - t0)
        finally:
            ray.shutdown()
    base = _median(walls["none"])
    return {
        "sweep": "2 trials x 10 iterations, sqlite store",
        "wall_s": {k: _median(v) for k, v in walls.items()},
        "sf2rl_overhead": _median(walls["sf2rl"]) / base - 1,
        "ray_stock_overhead": _median(walls["ray_stock"]) / base - 1,
    }


SECTIONS["tracking"] = bench_tracking

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def load_script(path: Path, name: str) -> Any:
    """A script of the checkout (bench/, infra/) as a module: they are scripts, not package code."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    # Registered so that process pools can pickle the script's functions by reference.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _bench_script(name: str) -> Any:
    """A benchmark module from the checkout's bench/ folder."""
    return load_script(BENCH_DIR / f"{name}.py", f"sf2rl_bench_{name}")


if (BENCH_DIR / "sim_speed.py").exists():
    SECTIONS["sim_speed"] = lambda quick: _bench_script("sim_speed").run(repeats=3 if quick else 7)
if (BENCH_DIR / "sim_calibration.py").exists():
    SECTIONS["sim_calibration"] = lambda quick: _bench_script("sim_calibration").run(matches=40 if quick else 200)
    SECTIONS["sim_matchups"] = lambda quick: _bench_script("sim_calibration").matchups(matches=4 if quick else 30)
if (BENCH_DIR / "training.py").exists():
    SECTIONS["training"] = lambda quick: _bench_script("training").run(quick)
    SECTIONS["scaling"] = lambda quick: _bench_script("training").run_scaling(quick)
if (BENCH_DIR / "champion.py").exists():
    SWEEP_SECTIONS["champion"] = lambda quick, sweep: _bench_script("champion").run(quick, sweep_file=sweep)
if (BENCH_DIR / "generalist.py").exists():
    SWEEP_SECTIONS["generalist"] = lambda quick, sweep: _bench_script("generalist").run(quick, sweep_file=sweep)
if (BENCH_DIR / "remote.py").exists():
    SECTIONS["remote"] = lambda quick: _bench_script("remote").run(quick)
    SECTIONS["cluster_costs"] = lambda quick: _bench_script("remote").costs(quick)
if (BENCH_DIR / "arcade.py").exists():
    SECTIONS["arcade"] = lambda quick: _bench_script("arcade").run(quick)
if (BENCH_DIR / "noop_sanity.py").exists():
    SECTIONS["noop_sanity"] = lambda quick: _bench_script("noop_sanity").run(quick)
