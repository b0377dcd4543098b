"""`sf2rl watch`: serve the live mosaic of the matches envs publish."""

from __future__ import annotations

import argparse
import time
from typing import Any

from sf2rl.cli.console import console
from sf2rl.core.defaults import tracking_uri
from sf2rl.env.frames import DEFAULT_ENDPOINT
from sf2rl.play.watch import Watcher


def run(args: argparse.Namespace) -> int:
    """`sf2rl watch`."""
    watcher = Watcher(args.endpoint, args.port, args.host, args.tracking_uri, args.mlflow_url).start()
    console.print(f"mosaic on [bold]{watcher.url}[/bold]   (Ctrl-C to stop)")
    if watcher.links is not None:
        console.print(f"tiles link to their trials' runs in {args.tracking_uri} (UI at {args.mlflow_url}; `sf2rl ui`)")
    console.print(f"make envs publish to it with the env option  publish_frames: {watcher.endpoint}")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
    return 0


def register(sub: Any) -> None:
    """Add `sf2rl watch`."""
    p = sub.add_parser(
        "watch",
        help="live mosaic of a running sweep's matches in the browser (the sweep must set env.publish_frames)",
        description="Serve a live mosaic of the matches that envs publish. It shows nothing until envs "
        "publish to it: set the env option publish_frames to the --endpoint (in a sweep file, "
        "env: {publish_frames: tcp://127.0.0.1:5599}); envs without it publish no frames.",
    )
    p.add_argument("--port", type=int, default=8765, help="port of the local web page")
    p.add_argument("--host", default="127.0.0.1", help="address the web page listens on")
    p.add_argument(
        "--endpoint",
        default=DEFAULT_ENDPOINT,
        help="ZeroMQ endpoint to bind for the envs' frames (tcp://0.0.0.0:5599 for a cluster)",
    )
    p.add_argument("--tracking-uri", default=tracking_uri(), help="MLflow store whose trial runs the tiles link to")
    p.add_argument("--mlflow-url", default="http://127.0.0.1:5000", help="address of the MLflow UI (`sf2rl ui`)")
    p.set_defaults(func=run)
