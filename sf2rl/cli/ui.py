"""`sf2rl ui`: the MLflow UI on the sweep's tracking store, with the link to each sweep's runs."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

from mlflow.tracking import MlflowClient

from sf2rl.cli.console import console
from sf2rl.core.defaults import tracking_uri
from sf2rl.core.errors import ConfigError
from sf2rl.core.tags import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG

RUNS_VIEW = "workflowType=machine_learning"
"""Query string that opens an experiment on MLflow's runs table rather than its GenAI overview."""
SHOWN = 5
"""Newest sweep experiments linked when no --experiment is given."""


def experiment_links(uri: str, base: str, name: str | None) -> list[tuple[str, str]]:
    """(experiment name, URL of its runs table) for ``name``, or for the newest sf2rl sweeps in the store."""
    client = MlflowClient(tracking_uri=uri)
    if name is not None:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            known = sorted(e.name for e in client.search_experiments(max_results=50))
            raise ConfigError(f"no experiment {name!r} at {uri}; experiments there: {known or 'none'}")
        found = [exp]
    else:
        found = client.search_experiments(
            filter_string=f"tags.`{EXPERIMENT_KIND_TAG}` = '{EXPERIMENT_KIND}'",
            order_by=["last_update_time DESC"],
            max_results=SHOWN,
        )
    # The UI's "GenAI"/"Model training" switch is per browser and starts on GenAI; the URL parameter
    # picks Model training, whose runs table is where a sweep's trials are.
    return [(e.name, f"{base}/#/experiments/{e.experiment_id}/runs?{RUNS_VIEW}") for e in found]


def is_server(uri: str) -> bool:
    """Whether ``uri`` names a running MLflow server (which is its own UI) rather than a store to serve."""
    return uri.startswith(("http://", "https://"))


def show_server(args: argparse.Namespace) -> int:
    """Print the links into the UI of the tracking server ``args.tracking_uri``; start nothing."""
    base = args.tracking_uri.rstrip("/")
    links = experiment_links(args.tracking_uri, base, args.experiment)
    # `mlflow server --backend-store-uri` takes a store (sqlite, postgresql, a folder), not another server.
    console.print(f"MLflow UI on {base}  (that server's own UI; nothing is started here)")
    for name, url in links:
        console.print(f"  sweep [bold]{name}[/bold]: {url}")
    if not links:
        console.print("  no sweeps on this server yet: run `sf2rl sweep FILE` with this tracking.uri")
    return 0


def run(args: argparse.Namespace) -> int:
    """Print the sweeps' links, then become `mlflow server` on the store (Ctrl-C stops it).

    An http(s) tracking URI is a server already: its links are printed and no server is started.
    """
    if is_server(args.tracking_uri):
        return show_server(args)
    base = f"http://{args.host}:{args.port}"
    links = experiment_links(args.tracking_uri, base, args.experiment)
    # MLflow's usage telemetry stays off: the store is the team's, not a product analytics feed.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", args.tracking_uri,
           "--host", args.host, "--port", str(args.port), "--workers", "1"]  # fmt: skip
    console.print(f"MLflow UI on {base}  (Ctrl-C to stop)")
    for name, url in links:
        console.print(f"  sweep [bold]{name}[/bold]: {url}")
    if not links:
        console.print("  no sweeps in this store yet: run `sf2rl sweep FILE`, then reload the page")
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.platform == "win32":
        return subprocess.call(cmd, env=env)
    # Become the server, so that signals (Ctrl-C, a supervisor's SIGTERM) reach it directly.
    os.execve(cmd[0], cmd, env)


def register(sub: Any) -> None:
    """Add `sf2rl ui`."""
    u = sub.add_parser("ui", help="serve the MLflow UI on the local store and print each sweep's link")
    u.add_argument(
        "--tracking-uri",
        default=tracking_uri(),
        help="MLflow store to serve (default $MLFLOW_TRACKING_URI); an http(s):// server is not served again: "
        "its runs-table links are printed",
    )
    u.add_argument("--experiment", help="print (and check) the link to this experiment's runs table only")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=5000)
    u.set_defaults(func=run)
