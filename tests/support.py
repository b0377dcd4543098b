"""Helpers several test modules share (on pytest's `pythonpath`, see pyproject.toml)."""

from __future__ import annotations

import contextlib
import glob
import importlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

from sf2rl.core.config import EnvConfig


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose prerequisite is missing here, but fail it under ``CI=true``: CI installs them all."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test, but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(module: str) -> ModuleType:
    """``pytest.importorskip`` that fails instead under ``CI=true`` (where every extra is installed)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        unavailable(f"{module} is not installed (make venv installs it)")


def save_module(path: Path, cfg: EnvConfig, export: Path | None = None) -> Path:
    """An untrained DQN RLModule for ``cfg``'s spaces, saved as a bare module checkpoint (no Ray runtime).

    Its sf2rl policy export goes into ``export`` (default ``path`` itself; an algorithm checkpoint's root
    when ``path`` is the module folder inside one).
    """
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from sf2rl.agents.export import write_export
    from sf2rl.env.environment import spaces

    obs, act = spaces(cfg)
    model = DefaultModelConfig(fcnet_hiddens=[16], head_fcnet_hiddens=[16])
    module = (
        DQNConfig()
        .environment(observation_space=obs, action_space=act)
        .rl_module(model_config=model)
        .get_rl_module_spec()
        .build()
    )
    module.save_to_path(path)
    write_export(module, cfg, export or path)  # what a trial writes beside RLlib's checkpoint; policies load it
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


@dataclass(frozen=True)
class Postgres:
    """A throwaway PostgreSQL server: where it listens and the role and database MLflow uses."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def uri(self) -> str:
        """SQLAlchemy URI, as compose.yaml's MLflow uses."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"


def pg_bindir() -> Path | None:
    """The newest PostgreSQL server binaries Debian installed (/usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


@contextlib.contextmanager
def postgres_server(port: int, host: str = "127.0.0.1", wrap: tuple[str, ...] = ()) -> Iterator[Postgres]:
    """A PostgreSQL cluster in a fresh /tmp folder, listening on ``host:port``, removed afterwards.

    ``wrap`` prefixes the server's command (``ip netns exec NS`` runs it on a lab host). PostgreSQL
    refuses to run as root, so as root it runs as Debian's ``postgres`` system user.
    """
    bindir = pg_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries are missing: apt-get install postgresql (make sysdeps)")
    as_user: tuple[str, ...] = ()
    base = Path(tempfile.mkdtemp(prefix="sf2pg-", dir="/tmp"))  # not pytest's tmp_path: private to root
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        as_user = ("runuser", "-u", "postgres", "--")
        os.chown(base, account.pw_uid, account.pw_gid)
    pg = Postgres(host, port, "mlflow", "pg-test-secret", "mlflow")
    pwfile, data, log = base / "pw", base / "data", base / "server.log"
    pwfile.write_text(pg.password + "\n")
    if as_user:
        os.chown(pwfile, account.pw_uid, account.pw_gid)

    def pg_run(*cmd: str) -> None:
        out = subprocess.run([*wrap, *as_user, *cmd], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed: {out.stdout}{out.stderr}")

    started = False
    try:
        # Password auth over TCP, as the compose stack uses (the URI carries the password).
        pg_run(str(bindir / "initdb"), "-D", str(data), "-U", pg.user, f"--pwfile={pwfile}", "--auth-local=trust",
               "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-instructions")  # fmt: skip
        # Its socket in our folder; fsync off: a throwaway cluster, speed over durability.
        options = f"-p {port} -c listen_addresses={host} -k {base} -c fsync=off -c full_page_writes=off"
        pg_run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        started = True
        pg_run(str(bindir / "createdb"), "-h", str(base), "-p", str(port), "-U", pg.user, pg.database)
        yield pg
    finally:
        if started:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                pg_run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def sweep_runs(uri: str, experiment: str) -> tuple[list[Any], list[Any]]:
    """A sweep's MLflow runs by sf2rl's kind tag: its parent runs and its trials' child runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r} at {uri}"
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("sf2rl.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("sf2rl.kind") == "trial"]
    return parents, children
