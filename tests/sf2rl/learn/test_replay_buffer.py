"""The trial's replay buffer: ring semantics, proportional draws, importance weights, n-step folding."""

from __future__ import annotations

import numpy as np
import pytest

from sf2rl.learn.replay_buffer import NStepFolder, ReplayBuffer, SumTree


def _fill(buf: ReplayBuffer, start: int, n: int) -> None:
    ids = np.arange(start, start + n)
    obs = np.repeat(ids[:, None].astype(np.float32), 3, axis=1)
    buf.add(obs, ids % 5, ids.astype(np.float32), obs + 0.5, np.full(n, 0.99, np.float32))


def test_empty_buffer_refuses_to_sample() -> None:
    with pytest.raises(ValueError, match="empty replay buffer"):
        ReplayBuffer(8, (3,), np.float32).sample(4)


def test_ring_keeps_the_newest_capacity_transitions_aligned() -> None:
    buf = ReplayBuffer(10, (3,), np.float32, seed=1)
    _fill(buf, 0, 7)
    _fill(buf, 7, 7)  # wraps: 0..3 are overwritten by 10..13
    assert len(buf) == 10
    batch = buf.sample(256)
    ids = batch.returns.astype(int)
    assert set(ids) == set(range(4, 14))
    # Every column of a drawn transition belongs to the same transition.
    np.testing.assert_array_equal(batch.obs[:, 0], ids)
    np.testing.assert_array_equal(batch.next_obs[:, 0], ids + 0.5)
    np.testing.assert_array_equal(batch.actions, ids % 5)
    np.testing.assert_array_equal(batch.weights, 1.0)


def test_sum_tree_draws_in_proportion_to_priority() -> None:
    tree = SumTree(5)
    tree.set(np.arange(5), np.array([1.0, 0.0, 2.0, 3.0, 4.0]))
    assert tree.total == pytest.approx(10.0)
    rng = np.random.default_rng(0)
    hits = np.bincount(tree.find(rng.random(100_000) * tree.total), minlength=8)
    np.testing.assert_allclose(hits[:5] / 100_000, [0.1, 0.0, 0.2, 0.3, 0.4], atol=0.01)
    assert hits[5:].sum() == 0
    tree.set(np.array([4, 4]), np.array([9.0, 0.0]))  # duplicates: the last one wins
    assert tree.total == pytest.approx(6.0)


def test_prioritized_draws_follow_td_errors_and_weights_correct_them() -> None:
    buf = ReplayBuffer(64, (3,), np.float32, alpha=1.0, beta=1.0, seed=2)
    _fill(buf, 0, 64)
    # New transitions all start at the highest priority seen: uniform.
    first = np.bincount(buf.sample(64_00).indices, minlength=64)
    assert first.min() > 50
    td = np.full(64, 0.01)
    td[7] = 10.0
    buf.update_priorities(np.arange(64), td)
    batch = buf.sample(1000)
    assert (batch.indices == 7).mean() > 0.8
    # With beta = 1 the weights undo the skew exactly: the common transition weighs most.
    assert batch.weights.max() == pytest.approx(1.0)
    assert batch.weights[batch.indices == 7].max() < batch.weights[batch.indices != 7].min()


def test_same_seed_same_draws() -> None:
    draws = []
    for _ in range(2):
        buf = ReplayBuffer(32, (3,), np.float32, alpha=0.6, seed=5)
        _fill(buf, 0, 32)
        buf.update_priorities(np.arange(32), np.linspace(0, 1, 32))
        draws.append(buf.sample(16).indices)
    np.testing.assert_array_equal(draws[0], draws[1])


def _obs(k: int) -> np.ndarray:
    return np.full(2, k, np.float32)


def test_n_step_folding_sums_discounted_rewards_and_bootstraps() -> None:
    gamma = 0.5
    fold = NStepFolder(num_envs=2, n_step=3, gamma=gamma)
    for t in range(4):
        fold.add(0, _obs(t), t, reward=1.0 + t, next_obs=_obs(t + 1), terminated=False, truncated=False)
    out = fold.take()
    assert out is not None
    _, actions, returns, next_obs, discounts = out
    # Steps 0 and 1 are complete (3 rewards each); 2 and 3 wait for more.
    np.testing.assert_array_equal(actions, [0, 1])
    np.testing.assert_allclose(returns, [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3 + 0.25 * 4])
    np.testing.assert_array_equal(next_obs[:, 0], [3, 4])
    np.testing.assert_allclose(discounts, [gamma**3] * 2)
    assert (actions.dtype, returns.dtype, discounts.dtype) == (np.int64, np.float32, np.float32)
    assert fold.take() is None


def test_episode_end_flushes_pending_steps() -> None:
    fold = NStepFolder(num_envs=1, n_step=3, gamma=0.5)
    fold.add(0, _obs(0), 0, 1.0, _obs(1), False, False)
    fold.add(0, _obs(1), 1, 1.0, _obs(2), terminated=True, truncated=False)
    _, actions, returns, next_obs, discounts = fold.take()  # type: ignore[misc]
    np.testing.assert_array_equal(actions, [0, 1])
    np.testing.assert_allclose(returns, [1.5, 1.0])
    np.testing.assert_array_equal(discounts, [0.0, 0.0])  # terminal: nothing to bootstrap from
    fold.add(0, _obs(5), 2, 1.0, _obs(6), False, False)
    fold.add(0, _obs(6), 3, 1.0, _obs(7), terminated=False, truncated=True)
    _, _, returns, next_obs, discounts = fold.take()  # type: ignore[misc]
    np.testing.assert_allclose(discounts, [0.25, 0.5])  # truncated: bootstrap from the last observation
    np.testing.assert_array_equal(next_obs[:, 0], [7, 7])


def test_dropped_env_loses_only_its_own_pending_steps() -> None:
    fold = NStepFolder(num_envs=2, n_step=2, gamma=1.0)
    fold.add(0, _obs(0), 0, 1.0, _obs(1), False, False)
    fold.add(1, _obs(10), 1, 1.0, _obs(11), False, False)
    fold.drop(0)
    fold.add(0, _obs(20), 2, 1.0, _obs(21), False, False)
    fold.add(1, _obs(11), 3, 1.0, _obs(12), False, False)
    _, actions, returns, _, _ = fold.take()  # type: ignore[misc]
    np.testing.assert_array_equal(actions, [1])
    np.testing.assert_allclose(returns, [2.0])


def test_the_trees_keep_sums_and_minima_of_what_was_set() -> None:
    rng = np.random.default_rng(0)
    tree = SumTree(100)
    priorities = np.zeros(100)
    for _ in range(50):
        idx = rng.integers(100, size=16)  # duplicates included: the last one wins
        p = rng.uniform(0.01, 5.0, 16)
        tree.set(idx, p)
        for i, v in zip(idx, p, strict=True):
            priorities[i] = v
        assert tree.total == pytest.approx(priorities.sum())
        assert tree.min == pytest.approx(priorities[priorities > 0].min())


def test_importance_weights_are_normalized_by_the_least_priority() -> None:
    buf = ReplayBuffer(64, (2,), np.float32, alpha=1.0, beta=1.0, seed=0)
    n = 64
    buf.add(np.zeros((n, 2), np.float32), np.zeros(n, np.int64), np.zeros(n, np.float32), np.zeros((n, 2), np.float32),
            np.ones(n, np.float32))  # fmt: skip
    buf.update_priorities(np.arange(n), np.linspace(0.1, 6.4, n))
    batch = buf.sample(4096)
    # With beta 1 a transition's weight is p_min / p: 1 for the least, and exactly 0.1 / p otherwise.
    p = 0.1 + (6.4 - 0.1) * batch.indices / (n - 1) + 1e-6
    np.testing.assert_allclose(batch.weights, (0.1 + 1e-6) / p, rtol=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_one_transition_is_stored_whole_with_its_dtypes(alpha: float) -> None:
    buf = ReplayBuffer(4, (2, 2), np.uint8, alpha=alpha)
    obs = np.full((1, 2, 2), 7, np.uint8)
    buf.add(obs, np.array([3]), np.array([1.5], np.float32), obs + 1, np.array([0.81], np.float32))
    assert len(buf) == 1
    b = buf.sample(8)
    assert b.obs.dtype == np.uint8 and b.next_obs.dtype == np.uint8  # pixels stay bytes in the buffer
    np.testing.assert_array_equal(b.obs, 7)
    np.testing.assert_array_equal(b.next_obs, 8)
    np.testing.assert_array_equal(b.actions, 3)
    np.testing.assert_array_equal(b.returns, 1.5)
    np.testing.assert_allclose(b.discounts, 0.81)  # gamma^n, or 0 past a terminal: the target's factor
    assert b.actions.dtype == np.int64 and b.returns.dtype == b.discounts.dtype == b.weights.dtype == np.float32


def test_priorities_are_td_errors_to_the_alpha_and_new_transitions_get_the_highest() -> None:
    alpha = 0.5
    buf = ReplayBuffer(8, (3,), np.float32, alpha=alpha, seed=2)
    _fill(buf, 0, 4)
    assert buf.tree is not None
    np.testing.assert_allclose(buf.tree.get(np.arange(4)), 1.0)  # nothing replayed yet: the initial 1
    buf.update_priorities(np.array([0, 1, 2, 3]), np.array([4.0, -9.0, 0.0, 1.0]))
    np.testing.assert_allclose(buf.tree.get(np.arange(4)), (np.array([4.0, 9.0, 0.0, 1.0]) + 1e-6) ** alpha)
    assert buf.tree.get(np.array([2]))[0] > 0  # a zero TD error is still drawn now and then
    _fill(buf, 4, 2)
    # A new transition gets the largest priority seen so far (|-9|), so it is replayed soon.
    np.testing.assert_allclose(buf.tree.get(np.array([4, 5])), (9.0 + 1e-6) ** alpha)


def test_stratified_draws_match_the_priority_shares() -> None:
    buf = ReplayBuffer(4, (3,), np.float32, alpha=1.0, seed=3)
    _fill(buf, 0, 4)
    buf.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]) - 1e-6)
    counts = np.zeros(4)
    for _ in range(200):
        counts += np.bincount(buf.sample(64).indices, minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), [0.1, 0.2, 0.3, 0.4], atol=0.01)
