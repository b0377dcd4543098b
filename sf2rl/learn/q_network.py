"""A lean forward pass over an RLlib DQN module's own parameters.

RLlib's ``compute_q_values`` goes through encoder and head wrapper modules, dict batches and
distributional-DQN branches on every call; for a small MLP that Python costs as much as the
matrix products. :class:`LeanQ` reads the same ``torch.nn.Linear`` layers (the very
parameter tensors, not copies) and computes the same values with plain ``F.linear`` calls,
so the optimizer, target syncs and RLlib's checkpoints all see one set of weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

ACTIVATIONS: dict[type, Callable[[torch.Tensor], torch.Tensor]] = {
    torch.nn.Tanh: torch.tanh,
    torch.nn.ReLU: torch.relu,
    torch.nn.SiLU: F.silu,
    torch.nn.ELU: F.elu,
}


def _layers(mlp: torch.nn.Module) -> list[tuple[torch.nn.Linear, Callable[[torch.Tensor], torch.Tensor] | None]]:
    """(linear layer, activation after it) pairs of a plain MLP ``Sequential``; ValueError on anything else."""
    out: list[tuple[torch.nn.Linear, Callable[[torch.Tensor], torch.Tensor] | None]] = []
    for layer in mlp.children():
        if isinstance(layer, torch.nn.Linear):
            out.append((layer, None))
        elif type(layer) in ACTIVATIONS and out and out[-1][1] is None:
            out[-1] = (out[-1][0], ACTIVATIONS[type(layer)])
        else:
            raise ValueError(f"LeanQ reads plain MLPs; found {type(layer).__name__}")
    return out


class LeanQ:
    """Q-values of one network (the online or the target one) of a ``DefaultDQNTorchRLModule``."""

    def __init__(self, encoder: Any, af: Any, vf: Any | None) -> None:
        self.encoder = _layers(encoder.net.mlp)
        self.af = _layers(af.net.mlp)
        self.vf = _layers(vf.net.mlp) if vf is not None else None

    @classmethod
    def of(cls, module: Any, target: bool = False) -> LeanQ:
        """The online (or target) network of ``module``; ValueError if it is not a plain MLP DQN module."""
        if getattr(module, "num_atoms", 1) != 1:
            raise ValueError("LeanQ computes expected Q-values; distributional DQN (num_atoms > 1) is not supported")
        prefix = "_target_" if target else ""
        vf = getattr(module, f"{prefix}vf", None) if module.uses_dueling else None
        return cls(getattr(module, f"{prefix}encoder"), getattr(module, f"{prefix}af"), vf)

    @staticmethod
    def _run(layers: list[tuple[torch.nn.Linear, Callable[[torch.Tensor], torch.Tensor] | None]],
             x: torch.Tensor) -> torch.Tensor:  # fmt: skip
        for linear, act in layers:
            x = F.linear(x, linear.weight, linear.bias)
            if act is not None:
                x = act(x)
        return x

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values of a batch: as RLlib computes them, ``v + a - mean(a)`` with dueling heads."""
        features = self._run(self.encoder, obs)
        adv = self._run(self.af, features)
        if self.vf is None:
            return adv
        return self._run(self.vf, features) + adv - adv.mean(dim=-1, keepdim=True)
