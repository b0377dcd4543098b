"""The trial's Q-learning update, applied straight to the RLlib Learner's own module and optimizer.

RLlib's ``Learner.update`` runs every batch through its learner connector pipeline and
metrics machinery; for a small MLP that overhead costs more than the forward and
backward passes. This class computes the same loss RLlib's ``DQNTorchLearner`` does
(n-step double-Q target, Huber or MSE, importance weights, global-norm clipping) on the
same ``torch.nn.Module`` and ``torch.optim`` objects, so RLlib's checkpoints, restores and
inference modules see exactly the weights trained here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns

from sf2rl.learn.q_network import LeanQ
from sf2rl.learn.replay_buffer import Batch


def _tensor(obs: np.ndarray) -> torch.Tensor:
    """Observations as float32 (pixels are stored as uint8; RLlib's encoders expect floats)."""
    t = torch.from_numpy(obs)
    return t if t.dtype == torch.float32 else t.float()


@dataclass(frozen=True)
class UpdateStats:
    """What one update reports."""

    loss: float
    q_mean: float
    td_errors: np.ndarray


class QLearner:
    """Acts and learns with one DQN RLModule (``DefaultDQNTorchRLModule``) and its optimizer."""

    def __init__(
        self,
        module: Any,
        optimizer: torch.optim.Optimizer,
        *,
        double_q: bool,
        huber: bool,
        grad_clip: float | None,
        tau: float,
        seed: int,
    ) -> None:
        self.module = module
        self.optimizer = optimizer
        self.double_q = double_q
        self.huber = huber
        self.grad_clip = grad_clip
        self.tau = tau
        for group in optimizer.param_groups:
            # One fused kernel per step instead of a Python loop over parameters (~10% of an update here).
            if "fused" in group and not group.get("foreach"):
                group["fused"] = True
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.rng = np.random.default_rng(seed)
        try:
            self._online: Any = LeanQ.of(module)
            self._target: Any = LeanQ.of(module, target=True)
        except (ValueError, AttributeError):  # not a plain MLP module: RLlib's own (slower) forward passes
            self._online = lambda obs: module.compute_q_values({Columns.OBS: obs})["qf_preds"]
            self._target = lambda obs: module.forward_target({Columns.OBS: obs})["qf_preds"]

    def _q(self, obs: torch.Tensor) -> torch.Tensor:
        return self._online(obs)

    def set_lr(self, lr: float) -> None:
        """Use ``lr`` from now on: a restore loads the checkpoint's lr, but PBT restores with a new one."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The highest-valued action of each observation (no exploration, no random draws)."""
        with torch.no_grad():
            return self._q(_tensor(obs)).argmax(dim=1).numpy()

    def act(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """Epsilon-greedy actions for a batch of observations."""
        greedy = self.greedy(obs)
        explore = self.rng.random(len(greedy)) < epsilon
        if explore.any():
            n_actions = int(self.module.action_space.n)
            greedy = np.where(explore, self.rng.integers(n_actions, size=len(greedy)), greedy)
        return greedy

    def update(self, batch: Batch) -> UpdateStats:
        """One gradient step on a replayed batch."""
        obs = _tensor(batch.obs)
        next_obs = _tensor(batch.next_obs)
        actions = torch.from_numpy(batch.actions)
        with torch.no_grad():
            target_next = self._target(next_obs)
            # Double Q picks the next action with the online network. That pass needs no gradient:
            # run inside the training pass (RLlib concatenates obs and next obs), its half of the
            # batch would be carried through the backward pass for nothing.
            best = (self._q(next_obs) if self.double_q else target_next).argmax(dim=1, keepdim=True)
        q_all = self._q(obs)
        q = q_all.gather(1, actions[:, None]).squeeze(1)
        target = torch.from_numpy(batch.returns) + torch.from_numpy(batch.discounts) * target_next.gather(
            1, best
        ).squeeze(1)
        loss_fn = torch.nn.functional.huber_loss if self.huber else torch.nn.functional.mse_loss
        loss = (torch.from_numpy(batch.weights) * loss_fn(q, target, reduction="none")).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        td = (q - target).detach().abs().numpy()
        return UpdateStats(float(loss.detach()), float(q.detach().mean()), td)

    def sync_target(self) -> None:
        """Move the target network towards the online one (tau = 1: copy it)."""
        with torch.no_grad():
            for main, target in self.module.get_target_network_pairs():
                for p, tp in zip(main.parameters(), target.parameters(), strict=True):
                    tp.mul_(1.0 - self.tau).add_(p, alpha=self.tau)
