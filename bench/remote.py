"""Remote emulators across a real network path, side by side with loopback (`sf2rl bench --only remote`).

Two network namespaces on a private bridge (infra/netns.py) stand for a trainer and an emulator
host. On the emulator host, two `emulator-worker serve` processes: one with ``--direct-ports``
(an env talks to its instance's own port after the lease), one with ``--no-direct`` (every step
routed through the host's socket), and one with direct ports and CurveZMQ required, as a host
reachable from a network should run. On the trainer, a third host bound to loopback, which is what a
spawned pool uses. An env on the trainer steps each in turn, in alternating rounds, and the
section reports per emulator:

- env steps/s, medians and ranges of the rounds, and the ratios to loopback;
- bytes on the wire per env step (both directions, the trainer's interface counters);
- CPU per env step on the emulator host (its serve process and instances, from /proc).

Needs root and `ip`; without them the section says why and measures nothing.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sf2rl.tools.bench import load_script

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FRAME_SKIP = 4

# Runs on the trainer host; prints one JSON line of per-round figures.
MEASURE = r"""
import json, os, sys, time
import numpy as np
from sf2rl.core.config import EnvConfig
from sf2rl.env.environment import SF2Env

endpoints, pids, steps, rounds, skip = json.loads(sys.argv[1])
TICK = os.sysconf("SC_CLK_TCK")

def cpu_s(pid):
    # A host's own CPU plus its instance processes' (its children).
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
            for t in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{t}/children").read().split()]
        except OSError:
            pass
    return total

def wire_bytes():
    base = "/sys/class/net/eth0/statistics/"
    return sum(int(open(base + k).read()) for k in ("rx_bytes", "tx_bytes"))

envs = {name: SF2Env(EnvConfig(backend=ep, worker=keys or {}, frame_skip=skip, action_set="minimal",
                               max_episode_steps=100000))
        for name, (ep, keys) in endpoints.items()}
out = {name: {"steps_per_s": [], "bytes_per_step": [], "cpu_ms_per_step": []} for name in envs}
rng = np.random.default_rng(0)
for r in range(rounds):
    for name, env in envs.items():
        env.reset(seed=r)
        actions = rng.integers(int(env.action_space.n), size=steps)
        c0, b0, t0 = cpu_s(pids[name]), wire_bytes(), time.perf_counter()
        for a in actions:
            _, _, term, trunc, _ = env.step(int(a))
            if term or trunc:
                env.reset()
        dt = time.perf_counter() - t0
        out[name]["steps_per_s"].append(steps / dt)
        out[name]["bytes_per_step"].append((wire_bytes() - b0) / steps)
        out[name]["cpu_ms_per_step"].append((cpu_s(pids[name]) - c0) * 1000 / steps)
for env in envs.values():
    env.close()
print(json.dumps(out))
"""


def _netns() -> Any:
    """infra/netns.py, the namespace lab (a script of the checkout, like this one)."""
    return load_script(ROOT / "infra" / "netns.py", "sf2rl_netns")


def _wait_ping(lab: Any, endpoint: str, keys: dict[str, str] | None) -> None:
    deadline = time.monotonic() + 60
    flags = ["--server-key", keys["server_key"], "--client-key", keys["client_key"]] if keys else []
    while lab.run("node", str(BIN / "emulator-worker"), "ping", endpoint, "--timeout-ms", "1000", *flags).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no emulator host at {endpoint} within 60 s")
        time.sleep(0.3)


def run(quick: bool = False, steps: int | None = None, rounds: int | None = None) -> dict[str, Any]:
    """The section: remote direct, remote routed and loopback emulators, alternating rounds."""
    netns = _netns()
    reason = netns.unavailable_reason()
    if reason:
        return {"skipped": reason}
    steps = steps or (500 if quick else 2000)
    rounds = rounds or (3 if quick else 9)
    serve = [str(BIN / "emulator-worker"), "serve", "--slots", "1"]
    with netns.Lab(("node", "emu")) as lab, tempfile.TemporaryDirectory(prefix="sf2keys-") as keys:
        emu = lab.addr("emu")
        for name in ("worker", "client"):
            subprocess.run([str(BIN / "emulator-worker"), "keygen", keys, "--name", name], check=True,
                           capture_output=True)  # fmt: skip
        Path(keys, "clients").mkdir()
        shutil.copy(Path(keys, "client.key"), Path(keys, "clients", "client.key"))
        curve = ["--curve-secret-key", f"{keys}/worker.key_secret", "--authorized-keys", f"{keys}/clients"]
        client_keys = {"server_key": f"{keys}/worker.key", "client_key": f"{keys}/client.key_secret"}
        hosts: dict[str, tuple[str, str, list[str], dict[str, str] | None]] = {
            "remote_direct": ("emu", f"tcp://{emu}:5555", ["--direct-ports", "5600"], None),
            "remote_routed": ("emu", f"tcp://{emu}:5556", ["--no-direct"], None),
            "remote_direct_curve": ("emu", f"tcp://{emu}:5557", ["--direct-ports", "5610", *curve], client_keys),
            "loopback": ("node", "tcp://127.0.0.1:5558", [], None),
        }
        pids = {}
        for name, (host, endpoint, extra, _) in hosts.items():
            proc = lab.popen(host, *serve, "--bind", endpoint, *extra, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
            pids[name] = proc.pid  # `ip netns exec` execs the command: the same process
        for _, endpoint, _, ckeys in hosts.values():
            _wait_ping(lab, endpoint, ckeys)
        args = json.dumps([{k: [v[1], v[3]] for k, v in hosts.items()}, pids, steps, rounds, FRAME_SKIP])
        out = lab.run("node", sys.executable, "-c", MEASURE, args, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"remote bench failed on the trainer host:\n{out.stderr[-3000:]}")
    raw = json.loads(out.stdout.strip().splitlines()[-1])
    report: dict[str, Any] = {
        "setup": f"sim, frame skip {FRAME_SKIP}, minimal actions, RAM observations, one env stepping one slot; "
        f"{rounds} alternating rounds of {steps} steps; trainer and emulator host in separate network namespaces "
        "joined by veth pairs and a bridge (infra/netns.py); only remote_direct_curve uses CurveZMQ",
    }
    loop = raw["loopback"]["steps_per_s"]
    for name, figures in raw.items():
        rates = figures["steps_per_s"]
        entry = {
            "steps_per_s": statistics.median(rates),
            "steps_per_s_range": [round(min(rates), 1), round(max(rates), 1)],
            "bytes_per_step": statistics.median(figures["bytes_per_step"]),
            "host_cpu_ms_per_step": statistics.median(figures["cpu_ms_per_step"]),
        }
        if name != "loopback":
            ratios = [a / b for a, b in zip(rates, loop, strict=True)]
            entry["ratio_vs_loopback"] = statistics.median(ratios)
            entry["ratio_vs_loopback_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
        report[name] = entry
    return report


COST_DQN = {"hiddens": [64], "learning_starts": 100, "steps_per_iteration": 400}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sweep_driver(folder: Path, trials: int, iterations: int) -> dict[str, Any]:
    """Run `sf2rl sweep` with ``trials`` trials in a subprocess, tracking to a real `mlflow server`:
    the driver's peak RSS, the server's write requests by endpoint, and the rows in its database."""
    import collections
    import os
    import re
    import sqlite3
    import urllib.request

    import yaml

    db, port, log = folder / f"mlflow-{trials}.db", _free_port(), folder / f"mlflow-{trials}.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--artifacts-destination", str(folder / f"artifacts-{trials}")],
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"mlflow server did not start:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.3)
        sweep = {
            "name": f"costs-{trials}", "storage": str(folder / "runs"),
            "env": {"action_set": "minimal", "frame_skip": 8, "max_episode_steps": 200},
            "dqn": COST_DQN, "search": {"num_samples": trials}, "space": {"dqn.lr": {"uniform": [0.0005, 0.002]}},
            "stop": {"training_iteration": iterations}, "checkpoint": {"every": 5},
            "resources": {"cpus_per_trial": 0.5}, "tracking": {"uri": f"http://127.0.0.1:{port}"},
        }  # fmt: skip
        path = folder / f"costs-{trials}.yaml"
        path.write_text(yaml.safe_dump(sweep))
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        proc = subprocess.Popen([str(BIN / "sf2rl"), "sweep", str(path)], env=env, cwd=folder,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"sf2rl sweep {path} exited {proc.returncode}")
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)
    writes: collections.Counter[str] = collections.Counter()
    for line in log.read_text().splitlines():
        m = re.search(r'"(POST|PUT|PATCH|DELETE) (/api/[^ ?]+)', line)
        if m:
            # Artifact paths name the run: count them by endpoint kind only.
            endpoint = "artifact upload" if "mlflow-artifacts/artifacts/" in m.group(2) else m.group(2)
            writes[f"{m.group(1)} {endpoint}"] += 1
    with sqlite3.connect(db) as con:
        rows = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("metrics", "params", "tags")}
    return {"driver_peak_rss_mib": usage.ru_maxrss / 1024, "writes": dict(writes), "rows": rows}


def costs(quick: bool = False) -> dict[str, Any]:
    """What one trial costs the sweep's driver and MLflow: peak driver memory, write requests, rows.

    Two local sweeps, one trial and four trials, each trial running the same iterations and tracking
    to a real `mlflow server` (sqlite); the differences per extra trial are the driver's memory per
    trial and MLflow's writes per trial-iteration, counted from the server's own request log.
    """

    iterations = 5 if quick else 20
    with tempfile.TemporaryDirectory(prefix="sf2costs-") as tmp:
        one = _sweep_driver(Path(tmp), 1, iterations)
        four = _sweep_driver(Path(tmp), 4, iterations)
    extra = 3 * iterations
    kinds = sorted(set(one["writes"]) | set(four["writes"]))
    writes = {k: (four["writes"].get(k, 0) - one["writes"].get(k, 0)) / extra for k in kinds}
    return {
        "setup": f"local sweeps of 1 and 4 trials x {iterations} iterations (sim), tracking over HTTP to an "
        "`mlflow server` on sqlite; the driver is the `sf2rl sweep` process (Tune and sf2rl's MLflow "
        "callback), not its Ray processes",
        "driver_peak_rss_mib": {"1_trial": one["driver_peak_rss_mib"], "4_trials": four["driver_peak_rss_mib"]},
        "driver_mib_per_extra_trial": (four["driver_peak_rss_mib"] - one["driver_peak_rss_mib"]) / 3,
        "mlflow_write_requests_per_trial_iteration": {**writes, "total": sum(writes.values())},
        "mlflow_rows_per_trial_iteration": {
            t: (four["rows"][t] - one["rows"][t]) / extra for t in ("metrics", "params", "tags")
        },
        "mlflow_write_requests": {"1_trial": sum(one["writes"].values()), "4_trials": sum(four["writes"].values())},
    }
