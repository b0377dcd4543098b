"""The training benchmark's two peers of an sf2rl trial, each run as its own process.

- ``sb3``: Stable-Baselines3 DQN on ``SF2-v0`` (in-process simulator).
- ``bare``: the limit, a bare PyTorch DQN loop on the same in-process env: a numpy ring
  buffer, the same MLP, one update per ``train_every`` env steps, nothing else.

Both use the settings in :data:`SETTINGS` (``sf2rl bench --only training`` passes the
same ones to the trial), torch with ``--threads`` intra-op threads, and report the
steady-state rate measured after learning starts. Run by ``sf2rl.tools.bench``::

    python bench/training.py bare --seconds 60 --threads 1
    python bench/training.py section --levers vanilla_dqn,batch_64_per_4_steps --no-scaling --out FILE
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

SETTINGS: dict[str, Any] = {
    "env": {"action_set": "minimal", "frame_skip": 8, "difficulty": 3, "characters": ["ryu", "ken"],
            "episode": "round", "reward": {"name": "health_delta"}},
    "hiddens": [256, 256],
    "batch_size": 256,
    "train_every": 16,
    "buffer_size": 50_000,
    "learning_starts": 1_000,
    "target_update_period": 1_000,
    "lr": 5e-4,
    "gamma": 0.99,
    "epsilon_timesteps": 20_000,
}  # fmt: skip
"""One 256-sample update per 16 env steps (the sweep defaults: 16 replayed samples per env step); MLP 256x256
(tanh, as RLlib's default); fused Adam in every loop."""


def _rate(marks: list[tuple[float, int, int]]) -> dict[str, float]:
    """Steps/s and updates/s between the first mark after learning started and the last."""
    (t0, s0, u0), (t1, s1, u1) = marks[0], marks[-1]
    dt = max(t1 - t0, 1e-9)
    return {"env_steps_per_s": (s1 - s0) / dt, "updates_per_s": (u1 - u0) / dt, "measured_s": dt,
            "env_steps": s1}  # fmt: skip


def _env() -> Any:
    from sf2rl.core.config import EnvConfig
    from sf2rl.env.environment import SF2Env

    return SF2Env(EnvConfig(**SETTINGS["env"], max_episode_steps=5000))


def run_bare(seconds: float, seed: int = 0) -> dict[str, float]:
    """The bare loop: epsilon-greedy acting, a ring buffer, a target network, Huber loss, Adam."""
    import torch

    s = SETTINGS
    env = _env()
    obs_dim, n_actions = env.observation_space.shape[0], int(env.action_space.n)

    def mlp() -> torch.nn.Module:
        layers: list[torch.nn.Module] = []
        width = obs_dim
        for h in s["hiddens"]:
            layers += [torch.nn.Linear(width, h), torch.nn.Tanh()]
            width = h
        return torch.nn.Sequential(*layers, torch.nn.Linear(width, n_actions))

    q, target = mlp(), mlp()
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=s["lr"], fused=True)  # as the trial's learner and SB3 here
    cap = s["buffer_size"]
    buf_obs = np.zeros((cap, obs_dim), np.float32)
    buf_next = np.zeros((cap, obs_dim), np.float32)
    buf_act = np.zeros(cap, np.int64)
    buf_rew = np.zeros(cap, np.float32)
    buf_done = np.zeros(cap, np.float32)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    steps = updates = size = 0
    marks: list[tuple[float, int, int]] = []
    deadline = time.perf_counter() + seconds
    while True:
        eps = max(0.05, 1.0 - 0.95 * steps / s["epsilon_timesteps"])
        if rng.random() < eps:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(q(torch.from_numpy(obs[None])).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        i = steps % cap
        buf_obs[i], buf_next[i], buf_act[i], buf_rew[i], buf_done[i] = obs, next_obs, action, reward, terminated
        size = min(cap, size + 1)
        steps += 1
        obs = env.reset()[0] if terminated or truncated else next_obs
        if steps >= s["learning_starts"] and steps % s["train_every"] == 0:
            idx = rng.integers(size, size=s["batch_size"])
            o, nx = torch.from_numpy(buf_obs[idx]), torch.from_numpy(buf_next[idx])
            with torch.no_grad():
                y = (
                    torch.from_numpy(buf_rew[idx])
                    + s["gamma"] * (1 - torch.from_numpy(buf_done[idx])) * target(nx).max(1).values
                )
            pred = q(o).gather(1, torch.from_numpy(buf_act[idx])[:, None]).squeeze(1)
            loss = torch.nn.functional.huber_loss(pred, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            updates += 1
        if steps % s["target_update_period"] == 0:
            target.load_state_dict(q.state_dict())
        if steps % 500 == 0 and steps >= s["learning_starts"]:
            now = time.perf_counter()
            marks.append((now, steps, updates))
            if now >= deadline and len(marks) >= 2:
                env.close()
                return _rate(marks)


def run_bare_default(seconds: float, seed: int = 0, n_step: int = 3) -> dict[str, float]:
    """The bare loop running the sweep defaults' algorithm: double Q, dueling heads, PER and n-step returns.

    A plain torch MLP with a value and an advantage head, and sf2rl's numpy replay pieces
    (``ReplayBuffer`` with priorities, ``NStepFolder``), which hold no framework code: what
    is left between this and a trial is the trial's own machinery (Tune, RLlib, rollout).
    """
    import torch

    from sf2rl.learn.replay_buffer import NStepFolder, ReplayBuffer

    s = SETTINGS
    env = _env()
    obs_dim, n_actions = env.observation_space.shape[0], int(env.action_space.n)

    class Dueling(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[torch.nn.Module] = []
            width = obs_dim
            for h in s["hiddens"]:
                layers += [torch.nn.Linear(width, h), torch.nn.Tanh()]
                width = h
            self.body = torch.nn.Sequential(*layers)
            self.adv, self.value = torch.nn.Linear(width, n_actions), torch.nn.Linear(width, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = self.body(x)
            a = self.adv(z)
            return self.value(z) + a - a.mean(dim=1, keepdim=True)

    q, target = Dueling(), Dueling()
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=s["lr"], fused=True)
    buf = ReplayBuffer(s["buffer_size"], (obs_dim,), np.float32, alpha=0.6, beta=0.4, seed=seed)
    folder = NStepFolder(1, n_step, s["gamma"])
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    steps = updates = 0
    marks: list[tuple[float, int, int]] = []
    deadline = time.perf_counter() + seconds
    while True:
        eps = max(0.05, 1.0 - 0.95 * steps / s["epsilon_timesteps"])
        if rng.random() < eps:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(q(torch.from_numpy(obs[None])).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        folder.add(0, obs, action, float(reward), next_obs, terminated, truncated)
        if (done := folder.take()) is not None:
            buf.add(*done)
        steps += 1
        obs = env.reset()[0] if terminated or truncated else next_obs
        if steps >= s["learning_starts"] and steps % s["train_every"] == 0:
            b = buf.sample(s["batch_size"])
            o, nx = torch.from_numpy(b.obs), torch.from_numpy(b.next_obs)
            with torch.no_grad():
                best = q(nx).argmax(1, keepdim=True)
                y = torch.from_numpy(b.returns) + torch.from_numpy(b.discounts) * target(nx).gather(1, best).squeeze(1)
            pred = q(o).gather(1, torch.from_numpy(b.actions)[:, None]).squeeze(1)
            loss = (torch.from_numpy(b.weights) * torch.nn.functional.huber_loss(pred, y, reduction="none")).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            buf.update_priorities(b.indices, (pred - y).detach().abs().numpy())
            updates += 1
        if steps % s["target_update_period"] == 0:
            target.load_state_dict(q.state_dict())
        if steps % 500 == 0 and steps >= s["learning_starts"]:
            now = time.perf_counter()
            marks.append((now, steps, updates))
            if now >= deadline and len(marks) >= 2:
                env.close()
                return _rate(marks)


def run_sb3(seconds: float, seed: int = 0) -> dict[str, float]:
    """Stable-Baselines3 DQN with the same settings, stopped by a wall-clock callback."""
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    s = SETTINGS
    marks: list[tuple[float, int, int]] = []
    deadline = time.perf_counter() + seconds

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            n = self.num_timesteps
            if n % 500 == 0 and n >= s["learning_starts"]:
                now = time.perf_counter()
                marks.append((now, n, int(self.model._n_updates)))
                return not (now >= deadline and len(marks) >= 2)
            return True

    env = _env()
    model = DQN(
        "MlpPolicy", env, learning_rate=s["lr"], buffer_size=s["buffer_size"], learning_starts=s["learning_starts"],
        batch_size=s["batch_size"], gamma=s["gamma"], train_freq=s["train_every"], gradient_steps=1,
        target_update_interval=s["target_update_period"], exploration_fraction=s["epsilon_timesteps"] / 10**9,
        policy_kwargs={"net_arch": list(s["hiddens"]), "activation_fn": torch.nn.Tanh,
                       "optimizer_kwargs": {"fused": True}},
        seed=seed, device="cpu",
    )  # fmt: skip
    model.learn(total_timesteps=10**9, callback=Clock())
    env.close()
    return _rate(marks)


PEERS: dict[str, Any] = {"bare": run_bare, "bare_default": run_bare_default, "sb3": run_sb3}
"""The peers, each run in a process of its own by :func:`_peer`."""

# ----------------------------------------------------------------- the section


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine: what every process of a loop used, Ray's included."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class _Cores:
    """Cores kept busy between construction and :meth:`stop`."""

    def __init__(self) -> None:
        self.start = _cpu_jiffies()

    def stop(self) -> float:
        busy, total = _cpu_jiffies()
        return (busy - self.start[0]) / max(1, total - self.start[1]) * (os.cpu_count() or 1)


def _peer(loop: str, seconds: float, threads: int, seed: int) -> dict[str, float]:
    """Run a peer in its own process at Ray workers' niceness, with the trial's thread count."""
    import subprocess
    import sys

    cores = _Cores()
    out = subprocess.run(
        [sys.executable, __file__, loop, "--seconds", str(seconds), "--threads", str(threads), "--nice", "15",
         "--seed", str(seed)],
        capture_output=True, text=True, check=True, timeout=seconds * 4 + 120,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    result["cores_busy"] = cores.stop()
    return result


VANILLA = {"dqn": {"double_q": False, "dueling": False, "prioritized_replay": False, "n_step": 1}}
"""The trial at SB3's and the bare loop's algorithm (vanilla 1-step DQN): only the loop differs."""
BASE_TRIAL: dict[str, Any] = {"dqn": {}, "resources": {}}
"""The trial as users get it: the sweep defaults (double Q, dueling heads, prioritized replay, 3-step)."""

LEVERS: dict[str, dict[str, Any]] = {
    # The default algorithm's own costs, each taken away alone, and all of them (vanilla DQN).
    "vanilla_dqn": VANILLA,
    "without_prioritized_replay": {"dqn": {"prioritized_replay": False}},
    "without_double_q_dueling": {"dqn": {"double_q": False, "dueling": False}},
    "one_step_returns": {"dqn": {"n_step": 1}},
    # RLlib's own DQN training_step, one env (what a trial did before sf2rl's loop).
    "rllib_stock_loop": {
        "dqn": {"loop": "rllib", "rollout_fragment_length": 16, "steps_per_iteration": 250},
        "resources": {"envs_per_runner": 1},
    },
    # How many envs the trial steps together (the replay ratio stays at one 256-sample update per 16 steps).
    "one_env": {"dqn": {"rollout_fragment_length": 16}, "resources": {"envs_per_runner": 1}},
    "eight_envs": {"dqn": {"rollout_fragment_length": 2}, "resources": {"envs_per_runner": 8}},
    # Smaller batches, more updates, same replay ratio: the defaults before issue #25.
    "batch_64_per_4_steps": {"dqn": {"train_batch_size": 64, "rollout_fragment_length": 1}},
    "torch_threads_2": {"resources": {"torch_threads": 2}},
    # A spawned worker host (the default before inline pools; still retro's and BizHawk's), all of the
    # trial's games in one emulator process; with polling; with one emulator process per game.
    "spawned_pool": {"pool": {"mode": "spawn"}},
    "emulator_polling_200us": {"pool": {"mode": "spawn", "spin_us": 200}},
    "one_game_per_process": {"pool": {"mode": "spawn", "games_per_instance": 1}},
    # Per-iteration costs (metrics, MLflow, checkpoints every 5 iterations) paid four times as often.
    "iterations_of_250_steps": {"dqn": {"steps_per_iteration": 250}},
}
"""Each lever is the base trial (the defaults) with these sections merged in, at the same replay ratio
(16 samples per step)."""


def _trial_sweep(name: str, storage: str, uri: str, seconds: float, variant: dict[str, Any], samples: int = 1) -> Any:
    from sf2rl.sweep.schema import SweepConfig

    s = SETTINGS
    dqn = {
        "hiddens": s["hiddens"], "train_batch_size": s["batch_size"], "buffer_size": s["buffer_size"],
        "learning_starts": s["learning_starts"], "target_update_period": s["target_update_period"], "lr": s["lr"],
        "gamma": s["gamma"], "epsilon": {"timesteps": s["epsilon_timesteps"]}, "steps_per_iteration": 1000,
        # Four envs, each stepped train_every / 4 times between updates: one update per train_every env steps.
        "rollout_fragment_length": s["train_every"] // 4,
        **BASE_TRIAL["dqn"], **variant.get("dqn", {}),
    }  # fmt: skip
    return SweepConfig(
        name=name, env=s["env"], dqn=dqn, pool=variant.get("pool", {}),
        resources={"envs_per_runner": 4, **BASE_TRIAL["resources"], **variant.get("resources", {})},
        search={"num_samples": samples, "max_concurrent": samples},
        stop={"training_iteration": None, "time_total_s": seconds}, storage=storage, tracking={"uri": uri},
    )  # fmt: skip


def _trial_rates(exp_dir: str, learning_starts: int) -> list[dict[str, float]]:
    """Each trial's steady-state rates from its result.json: from the first iteration past learning_starts."""
    from pathlib import Path

    rates = []
    for result_file in sorted(Path(exp_dir).glob("*/result.json")):
        rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("env_steps_total", 0) > learning_starts]
        if len(rows) < 2:
            raise RuntimeError(f"{result_file}: fewer than 2 iterations after learning started; run longer")
        a, b = rows[0], rows[-1]
        dt = b["wall_time"] - a["wall_time"]
        rates.append({
            "env_steps_per_s": (b["env_steps_total"] - a["env_steps_total"]) / dt,
            "updates_per_s": (b.get("learner_updates_total", 0) - a.get("learner_updates_total", 0)) / dt,
            "measured_s": dt, "env_steps": b["env_steps_total"],
            "emulator_wait_ms": float(np.median([r.get("emulator_wait_ms", float("nan")) for r in rows])),
        })  # fmt: skip
    return rates


def _trials(tmp: str, name: str, seconds: float, variant: dict[str, Any], samples: int = 1) -> dict[str, float]:
    """Run the variant as `sf2rl sweep` does (Tune, PooledDQN, its pool, MLflow) and sum its trials' rates."""
    from pathlib import Path

    from sf2rl.sweep.runner import run_sweep

    sweep = _trial_sweep(name, f"{tmp}/runs", f"sqlite:///{tmp}/mlflow.db", seconds, variant, samples)
    path = Path(tmp) / f"{name}.yaml"
    path.write_text(sweep.model_dump_json())
    cores = _Cores()
    outcome = run_sweep(sweep, path)
    busy = cores.stop()
    if outcome.errored:
        raise RuntimeError(f"bench sweep {name}: {outcome.errored} trial(s) errored")
    rates = _trial_rates(outcome.experiment_dir, SETTINGS["learning_starts"])
    if len(rates) != samples:
        raise RuntimeError(f"bench sweep {name}: expected {samples} trials, found {len(rates)}")
    total = {k: float(sum(r[k] for r in rates)) for k in ("env_steps_per_s", "updates_per_s")}
    return {**total, "emulator_wait_ms": float(np.median([r["emulator_wait_ms"] for r in rates])),
            "cores_busy": busy}  # fmt: skip


def _summary(values: list[float]) -> dict[str, Any]:
    return {"median": float(np.median(values)), "range": [round(min(values), 3), round(max(values), 3)]}


def _ratios(num: list[dict[str, float]], den: list[dict[str, float]], key: str = "env_steps_per_s") -> dict[str, Any]:
    return _summary([a[key] / b[key] for a, b in zip(num, den, strict=True)])


LOOPS = ("trial", "sb3", "bare_default", "trial_vanilla", "bare")
"""The main comparison: the trial as users get it, SB3 DQN, the bare loop at the default algorithm, then the
trial and the bare loop at SB3's vanilla algorithm."""


def run(quick: bool = False, levers: list[str] | None = None, scaling: bool = True, rounds: int | None = None,
        seconds: float | None = None, lever_rounds: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The ``training`` section: the trial with its default algorithm against SB3 DQN and the bare loops, in
    alternating rounds; the vanilla trial likewise; then each lever (default all) against the default trial,
    and two concurrent trials against one."""
    import tempfile

    import ray

    from sf2rl.sweep.runner import init_ray

    rounds = rounds or (1 if quick else 5)
    seconds = seconds or (20.0 if quick else 45.0)
    lever_rounds = lever_rounds or (1 if quick else 2)
    lever_seconds = 15.0 if quick else 30.0
    threads = 1
    runs: dict[str, list[dict[str, float]]] = {loop: [] for loop in LOOPS}
    out: dict[str, Any] = {
        "settings": {
            **SETTINGS,
            "torch_threads": threads,
            "trial_envs": 4,
            "nice": 15,
            "seconds_per_run": seconds,
            "rounds": rounds,
            "trial_algorithm": "sweep defaults: double Q, dueling, prioritized replay (alpha 0.6), 3-step",
            "vanilla_algorithm": "1-step DQN, no double Q, no dueling, uniform replay (SB3's)",
        },
    }
    with tempfile.TemporaryDirectory(prefix="sf2bench-train-") as tmp:
        init_ray(None)
        try:
            for r in range(rounds):
                # Rotate the order, so no loop always runs first after a quiet spell.
                for loop in LOOPS[r % len(LOOPS) :] + LOOPS[: r % len(LOOPS)]:
                    if loop == "trial":
                        runs[loop].append(_trials(tmp, f"train-default-{r}", seconds, {}))
                    elif loop == "trial_vanilla":
                        runs[loop].append(_trials(tmp, f"train-vanilla-{r}", seconds, VANILLA))
                    else:
                        runs[loop].append(_peer(loop, seconds, threads, seed=r))
            for loop, values in runs.items():
                out[loop] = {k: _summary([v[k] for v in values]) for k in values[0]}
            out["ratio_trial_vs_sb3"] = _ratios(runs["trial"], runs["sb3"])
            out["ratio_trial_vs_bare_default"] = _ratios(runs["trial"], runs["bare_default"])
            out["ratio_trial_vanilla_vs_sb3"] = _ratios(runs["trial_vanilla"], runs["sb3"])
            out["ratio_trial_vanilla_vs_bare"] = _ratios(runs["trial_vanilla"], runs["bare"])
            out["ratio_trial_vs_sb3_updates"] = _ratios(runs["trial"], runs["sb3"], "updates_per_s")

            chosen = list(LEVERS) if levers is None else levers
            lever_runs: dict[str, list[dict[str, float]]] = {"base": [], **{k: [] for k in chosen}}
            for r in range(lever_rounds if chosen else 0):
                for name in lever_runs:
                    lever_runs[name].append(_trials(tmp, f"lever-{name}-{r}", lever_seconds, LEVERS.get(name, {})))
            if chosen:
                out["levers"] = {
                    name: {"env_steps_per_s": _summary([v["env_steps_per_s"] for v in values]),
                           "ratio_vs_base": _ratios(values, lever_runs["base"]),
                           "cores_busy": _summary([v["cores_busy"] for v in values])}
                    for name, values in lever_runs.items()
                }  # fmt: skip
            if scaling:
                out["scaling"] = _scaling(tmp, rounds, seconds)
        finally:
            ray.shutdown()
    return out


_BUSY_LOOP = """
import sys, time
t0, n = time.perf_counter(), 0
while time.perf_counter() - t0 < float(sys.argv[1]):
    for _ in range(10_000):
        n += 1
print(n)
"""


def _cpu_work(procs: int, seconds: float) -> float:
    """Pure-Python work done by ``procs`` processes spinning at once: what the machine gives CPU-bound jobs."""
    import subprocess
    import sys

    ps = [subprocess.Popen([sys.executable, "-c", _BUSY_LOOP, str(seconds)], stdout=subprocess.PIPE, text=True)
          for _ in range(procs)]  # fmt: skip
    return float(sum(int(p.communicate(timeout=seconds + 60)[0]) for p in ps))


def _scaling(tmp: str, rounds: int, seconds: float) -> dict[str, Any]:
    """Two concurrent trials against one, for the default (inline) pool and for a spawned worker host;
    beside them the machine's own ceiling: two CPU-bound processes against one."""
    variants = {"default": {}, "spawned_pool": {"pool": {"mode": "spawn"}}}
    one: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    two: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    cpu: list[float] = []
    for r in range(rounds):
        for name, variant in variants.items():
            one[name].append(_trials(tmp, f"scale-{name}-1-{r}", seconds, variant))
            two[name].append(_trials(tmp, f"scale-{name}-2-{r}", seconds, variant, samples=2))
        cpu.append(_cpu_work(2, 5.0) / _cpu_work(1, 5.0))
    out: dict[str, Any] = {}
    for name in variants:
        prefix = "" if name == "default" else f"{name}."
        block = {
            "one_trial_env_steps_per_s": _summary([v["env_steps_per_s"] for v in one[name]]),
            "two_trials_aggregate_env_steps_per_s": _summary([v["env_steps_per_s"] for v in two[name]]),
            "ratio_two_vs_one": _ratios(two[name], one[name]),
            "cores_busy_one": _summary([v["cores_busy"] for v in one[name]]),
            "cores_busy_two": _summary([v["cores_busy"] for v in two[name]]),
        }
        out.update({f"{prefix}{k}": v for k, v in block.items()} if prefix else block)
    out["aggregate_default_vs_spawned_pool"] = _ratios(two["default"], two["spawned_pool"])
    out["two_default_vs_one_spawned_pool"] = _ratios(two["default"], one["spawned_pool"])
    out["machine_ratio_two_cpu_processes_vs_one"] = _summary(cpu)
    return out


def run_scaling(quick: bool = False) -> dict[str, Any]:
    """The ``scaling`` section alone: the training section's two-trials-vs-one block."""
    import tempfile

    import ray

    from sf2rl.sweep.runner import init_ray

    rounds, seconds = (1, 20.0) if quick else (3, 45.0)
    with tempfile.TemporaryDirectory(prefix="sf2bench-scale-") as tmp:
        init_ray(None)
        try:
            return {"settings": {**SETTINGS, "trial_envs": 4, "seconds_per_run": seconds, "rounds": rounds},
                    **_scaling(tmp, rounds, seconds)}  # fmt: skip
        finally:
            ray.shutdown()


def main() -> None:
    """Run one peer and print its rates as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("loop", choices=[*sorted(PEERS), "section"], help="a peer, or the whole section ('section')")
    ap.add_argument("--levers", help="with 'section': comma-separated levers to run (default all; '' for none)")
    ap.add_argument("--no-scaling", action="store_true", help="with 'section': skip the two-trial scaling part")
    ap.add_argument("--out", help="with 'section': write the report here as JSON")
    ap.add_argument("--rounds", type=int, help="with 'section': rounds of the main comparison (default 5)")
    ap.add_argument("--lever-rounds", type=int, help="with 'section': rounds of each lever (default 2)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nice", type=int, default=0, help="raise this process's niceness (Ray workers run at 15)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    if args.nice:
        os.nice(args.nice)
    torch.set_num_threads(args.threads)
    if args.loop == "section":
        levers = None if args.levers is None else [x for x in args.levers.split(",") if x]
        report = {"training": run(levers=levers, scaling=not args.no_scaling, rounds=args.rounds,
                                  seconds=args.seconds if args.seconds != 60.0 else None,
                                  lever_rounds=args.lever_rounds),
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
        text = json.dumps(report, indent=2)
        if args.out:
            open(args.out, "w").write(text)
        print(text)
        return
    print(json.dumps(PEERS[args.loop](args.seconds, args.seed)))


if __name__ == "__main__":
    main()
