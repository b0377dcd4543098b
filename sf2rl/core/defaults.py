"""Defaults and names more than one layer must agree on, defined once."""

from __future__ import annotations

import os

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""The embedded MLflow store: an sqlite file in the working directory."""

SELF_PLAY = "self"
"""The ``opponent`` value meaning: this trial's own newest checkpoint (self-play)."""

# Keys of a trial's RLlib env_config. A checkpoint records them, so `sf2rl eval` / `play` can
# rebuild the env a policy was trained on without importing the sweep layer.
SWEEP_KEY = "sf2rl_sweep"
OVERRIDES_KEY = "sf2rl_overrides"
ENV_KEY = "sf2rl_env"
ENDPOINTS_KEY = "sf2rl_endpoints"


def tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI (as MLflow itself reads it), else the embedded sqlite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
