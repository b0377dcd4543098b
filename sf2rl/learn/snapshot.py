"""Frozen copies of a learner's Q-network that play player 2 in its league.

A snapshot is exported as a torch state dict read back with ``weights_only=True`` (no
pickled code runs) into a copy of the reading trial's own module, plus a JSON note that
is written last, so a snapshot whose note exists is complete.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns

from sf2rl.core.game.spec import GameState

WEIGHTS, NOTE = ".pt", ".json"


class SnapshotPolicy:
    """Greedy on a frozen module's Q-values, with a little epsilon so that it is not one fixed line of play."""

    needs_ram = 0

    def __init__(self, module: Any, name: str, action_set: str, epsilon: float, seed: int = 0) -> None:
        self.module = module
        self.name = name
        self.action_set = action_set
        self.epsilon = epsilon
        self.n_actions = int(module.action_space.n)
        self.rng = np.random.default_rng(seed)

    @classmethod
    def frozen(cls, module: Any, name: str, action_set: str, epsilon: float, seed: int = 0) -> SnapshotPolicy:
        """A copy of ``module`` as it is now; later training does not touch it."""
        frozen = copy.deepcopy(module)
        frozen.eval()
        return cls(frozen, name, action_set, epsilon, seed)

    def reset(self, seed: int | None = None) -> None:
        """A new match; greedy inference keeps no state."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        """The greedy action for ``obs`` (seen from this side), or a random one with probability epsilon."""
        if self.epsilon and self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.n_actions))
        with torch.no_grad():
            q = self.module.compute_q_values({Columns.OBS: torch.as_tensor(np.asarray(obs, np.float32)[None])})
        return int(q["qf_preds"][0].argmax())

    def export(self, stem: Path, note: dict[str, Any]) -> None:
        """Write ``stem.pt`` (the state dict) and then ``stem.json`` (the note), each atomically."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        tmp = stem.with_suffix(".tmp")
        torch.save(self.module.state_dict(), tmp)
        os.replace(tmp, stem.with_suffix(WEIGHTS))
        tmp.write_text(json.dumps({**note, "name": self.name, "action_set": self.action_set}))
        os.replace(tmp, stem.with_suffix(NOTE))


def list_snapshots(folder: Path) -> list[Path]:
    """Stems of the complete snapshots in ``folder`` (those whose note has been written), oldest name first."""
    if not folder.is_dir():
        return []
    return sorted(p.with_suffix("") for p in folder.glob(f"*{NOTE}") if p.with_suffix(WEIGHTS).exists())


def load_snapshot(stem: Path, like: Any, name: str, epsilon: float) -> SnapshotPolicy:
    """A snapshot read into a copy of ``like`` (the reader's module); ValueError if the note is unreadable."""
    try:
        note = json.loads(stem.with_suffix(NOTE).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"snapshot note {stem}{NOTE}: {e}") from None
    state = torch.load(stem.with_suffix(WEIGHTS), weights_only=True)
    module = copy.deepcopy(like)
    module.load_state_dict(state, strict=True)  # RuntimeError on another architecture
    module.eval()
    return SnapshotPolicy(module, name, str(note.get("action_set", "")), epsilon)
