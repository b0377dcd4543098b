"""Helpers several test modules share (on pytest's `pythonpath`, see pyproject.toml)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sf2rl.core.config import EnvConfig


def save_module(path: Path, cfg: EnvConfig) -> Path:
    """An untrained DQN RLModule for ``cfg``'s spaces, saved as a bare module checkpoint (no Ray runtime)."""
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from sf2rl.env.environment import spaces

    obs, act = spaces(cfg)
    model = DefaultModelConfig(fcnet_hiddens=[16], head_fcnet_hiddens=[16])
    DQNConfig().environment(observation_space=obs, action_space=act).rl_module(
        model_config=model
    ).get_rl_module_spec().build().save_to_path(path)
    return path


SESSION_TAG = "SF2RL_TEST_SESSION"
"""Environment variable a test sets before starting Ray, so it can find the processes it started."""


def new_session_tag() -> str:
    """Tag this process's environment (inherited by Ray, its workers and their worker hosts)."""
    tag = uuid.uuid4().hex
    os.environ[SESSION_TAG] = tag
    return tag


def owned(pattern: str, tag: str) -> set[int]:
    """Pids of processes started under ``tag`` (see :func:`new_session_tag`) whose command line has ``pattern``.

    Tests kill and count only these, never other processes on the machine that happen to match.
    """
    found = set()
    marker = f"{SESSION_TAG}={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if pattern in cmdline and marker in (entry / "environ").read_bytes().split(b"\0"):
                found.add(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_CHROMIUM = bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER))
"""Debian's chromium and chromium-driver (make sysdeps); in CI the browser tests must run."""


@contextlib.contextmanager
def chromium(log_network: bool = False) -> Iterator[Any]:
    """A headless Chromium driven by Selenium, with browser (and, if asked, network) logs kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sf2rl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--window-size=1400,1000"]  # fmt: skip
    flags.append(f"--user-data-dir={profile}")
    for flag in flags:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if log_network else {})})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def artifact_dir() -> Path:
    """Where tests leave files for a person to look at (screenshots): $SF2RL_TEST_ARTIFACTS or ./test-artifacts."""
    folder = Path(os.environ.get("SF2RL_TEST_ARTIFACTS", "test-artifacts")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
