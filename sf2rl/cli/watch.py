"""`sf2rl watch`: serve the live mosaic of the matches envs publish."""

from __future__ import annotations

import argparse
import time
from typing import Any

from sf2rl.cli.console import console
from sf2rl.env.frames import DEFAULT_ENDPOINT
from sf2rl.play.watch import Watcher


def run(args: argparse.Namespace) -> int:
    """`sf2rl watch`."""
    watcher = Watcher(args.endpoint, args.port, args.host).start()
    console.print(f"mosaic on [bold]{watcher.url}[/bold]   (Ctrl-C to stop)")
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
    p = sub.add_parser("watch", help="live mosaic of a running sweep's matches in the browser")
    p.add_argument("--port", type=int, default=8765, help="port of the local web page")
    p.add_argument("--host", default="127.0.0.1", help="address the web page listens on")
    p.add_argument(
        "--endpoint",
        default=DEFAULT_ENDPOINT,
        help="ZeroMQ endpoint to bind for the envs' frames (tcp://0.0.0.0:5599 for a cluster)",
    )
    p.set_defaults(func=run)
