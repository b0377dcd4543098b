"""`sf2rl ui`: the MLflow UI on the sweep's tracking store."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

from sf2rl.cli.console import console
from sf2rl.core.defaults import tracking_uri


def run(args: argparse.Namespace) -> int:
    """Become `mlflow server` on the store (Ctrl-C stops it)."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", args.tracking_uri,
           "--host", args.host, "--port", str(args.port), "--workers", "1"]  # fmt: skip
    console.print(f"MLflow UI on http://{args.host}:{args.port}  (Ctrl-C to stop)")
    if sys.platform == "win32":
        return subprocess.call(cmd, env=env)
    # Become the server, so that signals (Ctrl-C, a supervisor's SIGTERM) reach it directly.
    os.execve(cmd[0], cmd, env)


def register(sub: Any) -> None:
    """Add `sf2rl ui`."""
    u = sub.add_parser("ui", help="serve the MLflow UI on the local store")
    u.add_argument("--tracking-uri", default=tracking_uri(), help="MLflow store (default $MLFLOW_TRACKING_URI)")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=5000)
    u.set_defaults(func=run)
