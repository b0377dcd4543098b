"""The sf2rl policy export: a trained Q-network as plain weights and JSON, loadable without running code.

RLlib's checkpoints are pickles: unpickling a file that someone else sent runs whatever they
put in it. Every checkpoint a trial writes therefore also holds ``sf2rl_policy/``:

- ``weights.pt``: the module's inference weights, a torch state dict read back with
  ``weights_only=True`` (tensors only; any other object is refused);
- ``policy.json``: the env options it trained with, its spaces, its network's shape, and the
  SHA-256 of ``weights.pt``.

Loading rebuilds RLlib's own DQN module class (the only class it will build) from that JSON and
fills in the weights. RLlib's pickled state stays for ``sf2rl sweep --resume`` on the user's own
storage.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import CheckpointError

EXPORT_DIR = "sf2rl_policy"
WEIGHTS, NOTE = "weights.pt", "policy.json"
FORMAT = 1
TRUST_PICKLES = "SF2RL_TRUST_PICKLED_CHECKPOINTS"
"""Set to 1 to load a checkpoint without an export (written before sf2rl wrote them) from RLlib's pickles."""


def export_dir(checkpoint: Path) -> Path | None:
    """The export inside an algorithm or module checkpoint folder, if it has one."""
    folder = Path(checkpoint) / EXPORT_DIR
    return folder if (folder / NOTE).is_file() and (folder / WEIGHTS).is_file() else None


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise TypeError(f"not JSON data: {type(value).__name__}")


def write_export(module: Any, env: EnvConfig, checkpoint: Path) -> Path:
    """Write ``checkpoint/sf2rl_policy`` for ``module`` (a DQN RLModule) trained on ``env``; return the folder."""
    import torch

    folder = Path(checkpoint) / EXPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items() if not k.startswith("_target_")}
    tmp = folder / (WEIGHTS + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, folder / WEIGHTS)
    obs, act = module.observation_space, module.action_space
    note = {
        "format": FORMAT,
        "module": "DefaultDQNTorchRLModule",
        "env": env.model_dump(mode="json"),
        "observation_space": {
            "shape": list(obs.shape),
            "dtype": str(obs.dtype),
            "low": float(np.min(obs.low)),
            "high": float(np.max(obs.high)),
        },
        "action_space": {"n": int(act.n)},
        "model_config": _json_ready({k: v for k, v in dict(module.model_config).items() if _plain(v)}),
        "weights_sha256": sha256(folder / WEIGHTS),
    }
    tmp = folder / (NOTE + ".tmp")
    tmp.write_text(json.dumps(note, indent=1))
    os.replace(tmp, folder / NOTE)  # written last: an export with a note is complete
    return folder


def _plain(value: Any) -> bool:
    try:
        _json_ready(value)
    except TypeError:
        return False
    return True


def read_note(folder: Path) -> dict[str, Any]:
    """``policy.json`` of an export, checked for its format; CheckpointError if unreadable."""
    try:
        note = json.loads((folder / NOTE).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{folder / NOTE}: not a readable sf2rl policy export ({e})") from None
    if not isinstance(note, dict) or note.get("format") != FORMAT or note.get("module") != "DefaultDQNTorchRLModule":
        raise CheckpointError(f"{folder / NOTE}: not an sf2rl policy export of format {FORMAT}")
    return note


def recorded_env(folder: Path) -> EnvConfig | None:
    """The env options an export records (options this version does not know are left out)."""
    recorded = read_note(folder).get("env") or {}
    known = {k: v for k, v in recorded.items() if k in EnvConfig.model_fields}
    try:
        return EnvConfig(**known)
    except ValueError:
        return None


def load_module(folder: Path) -> Any:
    """RLlib's DQN module rebuilt from an export's JSON, with its weights read as tensors only."""
    import gymnasium as gym
    import torch
    from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    note = read_note(folder)
    weights = folder / WEIGHTS
    if sha256(weights) != note.get("weights_sha256"):
        raise CheckpointError(f"{weights}: its SHA-256 does not match {NOTE}; the export was altered or cut short")
    o = note["observation_space"]
    obs = gym.spaces.Box(o["low"], o["high"], tuple(o["shape"]), np.dtype(o["dtype"]))
    act: gym.spaces.Discrete = gym.spaces.Discrete(int(note["action_space"]["n"]))
    spec = RLModuleSpec(module_class=DefaultDQNTorchRLModule, observation_space=obs, action_space=act,
                        model_config=note["model_config"], inference_only=True)  # fmt: skip
    module: Any = spec.build()
    try:
        state = torch.load(weights, weights_only=True, map_location="cpu")
        module.load_state_dict(state, strict=True)
    except Exception as e:  # an unpickler refusing an object, or weights of another shape
        raise CheckpointError(f"{weights}: not loadable as this export's network ({type(e).__name__}: {e})") from None
    module.eval()
    return module
