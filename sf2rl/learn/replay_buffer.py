"""The trial's replay buffer: flat numpy arrays of n-step transitions, uniform or prioritized.

RLlib's ``PrioritizedEpisodeReplayBuffer`` keeps episode objects and rebuilds n-step
samples from them on every draw; profiled in a trial it cost more than the network
update it fed. Here each transition is folded to its n-step form once, on the way in
(:class:`NStepFolder`), so a draw is a handful of fancy-indexing operations.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Batch:
    """A replayed batch: ``returns`` are n-step sums, ``discounts`` are gamma^k (0 past a terminal)."""

    indices: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    returns: np.ndarray
    next_obs: np.ndarray
    discounts: np.ndarray
    weights: np.ndarray


class SumTree:
    """Priorities in binary trees of partial sums and minima: set, draw and find the least in O(log n), batched."""

    def __init__(self, capacity: int) -> None:
        self.leaves = 1 << max(0, (capacity - 1).bit_length())
        self.tree = np.zeros(2 * self.leaves, np.float64)
        self.mins = np.full(2 * self.leaves, np.inf)

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self.tree[1])

    @property
    def min(self) -> float:
        """The least priority set so far (inf before any): PER's largest importance weight comes from it."""
        return float(self.mins[1])

    def set(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set the priorities of ``indices`` (duplicates: the last one wins)."""
        node = indices + self.leaves
        self.tree[node] = priorities
        self.mins[node] = priorities
        # Every leaf is at the same depth, so all the paths reach the root together. A parent met
        # twice is written twice with the same value, which is cheaper than np.unique per level.
        node = node // 2
        while node[0] >= 1:
            left, right = 2 * node, 2 * node + 1
            self.tree[node] = self.tree[left] + self.tree[right]
            self.mins[node] = np.minimum(self.mins[left], self.mins[right])
            node = node // 2

    def find(self, mass: np.ndarray) -> np.ndarray:
        """The leaf under each cumulative ``mass`` (values in [0, total))."""
        node = np.ones(len(mass), np.int64)
        mass = mass.copy()
        while node[0] < self.leaves:
            left = 2 * node
            go_right = mass >= self.tree[left]
            mass -= np.where(go_right, self.tree[left], 0.0)
            node = left + go_right
        return node - self.leaves

    def get(self, indices: np.ndarray) -> np.ndarray:
        """The priorities of ``indices``."""
        return self.tree[indices + self.leaves]


class ReplayBuffer:
    """A ring of the last ``capacity`` n-step transitions.

    With ``alpha > 0`` draws are proportional to ``priority ** alpha`` (PER, Schaul et al. 2016)
    and carry importance weights ``(N * P(i)) ** -beta``, normalized by the largest possible one.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype | type,
        *,
        alpha: float = 0.0,
        beta: float = 0.4,
        seed: int = 0,
    ) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, *obs_shape), obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), obs_dtype)
        self.actions = np.zeros(capacity, np.int64)
        self.returns = np.zeros(capacity, np.float32)
        self.discounts = np.zeros(capacity, np.float32)
        self.alpha = alpha
        self.beta = beta
        self.tree = SumTree(capacity) if alpha > 0 else None
        self._max_priority = 1.0
        self._next = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(
        self, obs: np.ndarray, actions: np.ndarray, returns: np.ndarray, next_obs: np.ndarray, discounts: np.ndarray
    ) -> None:
        """Append a batch of transitions (oldest ones are overwritten); new ones get the highest priority."""
        n = len(actions)
        if n == 0:
            return
        idx = (self._next + np.arange(n)) % self.capacity
        self.obs[idx] = obs
        self.next_obs[idx] = next_obs
        self.actions[idx] = actions
        self.returns[idx] = returns
        self.discounts[idx] = discounts
        if self.tree is not None:
            self.tree.set(idx, np.full(n, self._max_priority**self.alpha))
        self._next = int((self._next + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)

    def sample(self, batch_size: int) -> Batch:
        """Draw ``batch_size`` transitions (stratified by priority mass when prioritized)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if self.tree is None:
            idx = self.rng.integers(self.size, size=batch_size)
            weights = np.ones(batch_size, np.float32)
        else:
            total = self.tree.total
            mass = (np.arange(batch_size) + self.rng.random(batch_size)) * (total / batch_size)
            idx = np.minimum(self.tree.find(np.minimum(mass, np.nextafter(total, 0))), self.size - 1)
            probs = self.tree.get(idx) / total
            # Normalized by the largest weight any stored transition could get (that of the lowest priority).
            p_min = self.tree.min / total
            w = (np.maximum(probs, 1e-12) / max(p_min, 1e-12)) ** -self.beta
            weights = w.astype(np.float32)
        return Batch(idx, self.obs[idx], self.actions[idx], self.returns[idx], self.next_obs[idx],
                     self.discounts[idx], weights)  # fmt: skip

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set drawn transitions' priorities from their new absolute TD errors."""
        if self.tree is None:
            return
        priorities = np.abs(td_errors).astype(np.float64) + 1e-6
        self._max_priority = max(self._max_priority, float(priorities.max()))
        self.tree.set(indices, priorities**self.alpha)


class NStepFolder:
    """Turns each env's stream of steps into n-step transitions, as soon as each one is known.

    An env's transition from step t is complete n steps later (or at the episode's end): its
    return is the discounted sum of the rewards in between, and it bootstraps from the
    observation reached, with discount gamma^k, or 0 after a terminal state.
    """

    def __init__(self, num_envs: int, n_step: int, gamma: float) -> None:
        self.n = n_step
        self.gamma = gamma
        self.pending: list[deque[tuple[np.ndarray, int, float]]] = [deque() for _ in range(num_envs)]
        self._out: list[tuple[np.ndarray, int, float, np.ndarray, float]] = []

    def add(
        self,
        env: int,
        obs: np.ndarray,
        action: int,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        truncated: bool,
    ) -> None:
        """Record one step of env ``env``; an episode's end flushes all of its pending steps."""  # fmt: skip
        queue = self.pending[env]
        queue.append((obs, action, reward))
        if terminated or truncated:
            while queue:
                self._emit(queue, next_obs, 0.0 if terminated else 1.0)
        elif len(queue) == self.n:
            self._emit(queue, next_obs, 1.0)

    def _emit(self, queue: deque[tuple[np.ndarray, int, float]], next_obs: np.ndarray, alive: float) -> None:
        ret = 0.0
        for k, (_, _, r) in enumerate(queue):
            ret += self.gamma**k * r
        obs, action, _ = queue.popleft()
        self._out.append((obs, action, ret, next_obs, alive * self.gamma ** (len(queue) + 1)))

    def drop(self, env: int) -> None:
        """Forget env ``env``'s pending steps (its emulator died mid-episode: no honest bootstrap)."""
        self.pending[env].clear()

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """The transitions completed since the last call, as arrays (None if there are none)."""
        if not self._out:
            return None
        obs, actions, returns, next_obs, discounts = zip(*self._out, strict=True)
        self._out = []
        return (np.stack(obs), np.asarray(actions, np.int64), np.asarray(returns, np.float32), np.stack(next_obs),
                np.asarray(discounts, np.float32))  # fmt: skip
