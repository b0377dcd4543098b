"""Options the match-playing commands (`eval`, `play`, `tournament`) share."""

from __future__ import annotations

import argparse

from sf2rl.core.defaults import tracking_uri


def add_match_options(p: argparse.ArgumentParser) -> None:
    """``--set``, ``--run-id``, ``--tracking-uri`` and ``--seed``."""
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="env option override (e.g. frame_skip=8)")
    p.add_argument("--run-id", help="MLflow run to attach the results to")
    p.add_argument("--tracking-uri", default=tracking_uri(), help="MLflow store (default $MLFLOW_TRACKING_URI)")
    p.add_argument("--seed", type=int, default=0)
