"""The trial's Q update on an RLlib DQN module: acting, learning a target, syncing the target network."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from sf2rl.learn.q_learner import QLearner
from sf2rl.learn.replay_buffer import Batch

OBS, ACTIONS = 6, 4


def _learner(
    double_q: bool = True, dueling: bool = False, seed: int = 0, tau: float = 1.0, grad_clip: float | None = 40.0
) -> QLearner:
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    torch.manual_seed(seed)
    module = (
        DQNConfig()
        .environment(observation_space=gym.spaces.Box(-1, 1, (OBS,), np.float32), action_space=gym.spaces.Discrete(4))
        .training(dueling=dueling, double_q=double_q)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[32, 32], head_fcnet_hiddens=[]))
        .get_rl_module_spec()
        .build()
    )
    module.make_target_networks()  # what RLlib's DQNLearner does at build time
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    return QLearner(module, opt, double_q=double_q, huber=True, grad_clip=grad_clip, tau=tau, seed=seed)


def _batch(n: int = 64, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (n, OBS)).astype(np.float32)
    actions = rng.integers(ACTIONS, size=n)
    # A terminal one-step task: Q(s, a) should become the reward, which depends on the action.
    returns = (actions == 2).astype(np.float32)
    return Batch(np.arange(n), obs, actions, returns, obs.copy(), np.zeros(n, np.float32), np.ones(n, np.float32))


@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize("dueling", [True, False])
def test_updates_learn_the_target_and_report_td_errors(double_q: bool, dueling: bool) -> None:
    q = _learner(double_q, dueling)
    batch = _batch()
    first = q.update(batch)
    assert first.td_errors.shape == (64,)
    for _ in range(300):
        last = q.update(batch)
    assert last.loss < first.loss / 10
    assert float(np.abs(last.td_errors).mean()) < 0.1
    # Greedy acting now picks the rewarded action everywhere.
    np.testing.assert_array_equal(q.act(batch.obs, epsilon=0.0), 2)


def test_epsilon_one_explores_every_action_within_range() -> None:
    q = _learner()
    actions = q.act(np.zeros((2000, OBS), np.float32), epsilon=1.0)
    assert set(actions) == set(range(ACTIONS))


def test_bootstrapped_target_uses_the_discount() -> None:
    q = _learner(double_q=False)
    batch = _batch()
    with torch.no_grad():
        target_next = q.module.forward_target({"obs": torch.from_numpy(batch.next_obs)})["qf_preds"].max(1).values
    alive = Batch(batch.indices, batch.obs, batch.actions, batch.returns, batch.next_obs,
                  np.full(64, 0.5, np.float32), batch.weights)  # fmt: skip
    with torch.no_grad():
        q_now = q.module.compute_q_values({"obs": torch.from_numpy(batch.obs)})["qf_preds"]
    expected = (q_now.gather(1, torch.from_numpy(batch.actions)[:, None]).squeeze(1)
                - (torch.from_numpy(batch.returns) + 0.5 * target_next)).abs().numpy()  # fmt: skip
    np.testing.assert_allclose(q.update(alive).td_errors, expected, rtol=1e-5, atol=1e-6)


def test_sync_target_copies_or_averages_the_online_weights() -> None:
    for tau in (1.0, 0.5):
        q = _learner(tau=tau)
        main, target = q.module.get_target_network_pairs()[0]
        for _ in range(5):
            q.update(_batch())
        before = [t.detach().clone() for t in target.parameters()]
        q.sync_target()
        for p, t, b in zip(main.parameters(), target.parameters(), before, strict=True):
            torch.testing.assert_close(t, tau * p.detach() + (1 - tau) * b)


def test_same_seed_same_updates() -> None:
    losses = [[q.update(_batch(seed=k)).loss for k in range(5)] for q in (_learner(seed=3), _learner(seed=3))]
    assert losses[0] == losses[1]


def test_double_q_picks_the_next_action_online_and_values_it_with_the_target() -> None:
    q = _learner(double_q=True)
    # Make the target network differ from the online one, so the two choices are distinguishable.
    for _ in range(20):
        q.update(_batch(seed=1))
    batch = _batch(seed=2)
    discounts = np.full(64, 0.9, np.float32)
    alive = Batch(batch.indices, batch.obs, batch.actions, batch.returns, batch.next_obs, discounts, batch.weights)
    with torch.no_grad():
        nxt = torch.from_numpy(batch.next_obs)
        best = q.module.compute_q_values({"obs": nxt})["qf_preds"].argmax(1, keepdim=True)
        value = q.module.forward_target({"obs": nxt})["qf_preds"].gather(1, best).squeeze(1)
        q_now = q.module.compute_q_values({"obs": torch.from_numpy(batch.obs)})["qf_preds"]
        chosen = q_now.gather(1, torch.from_numpy(batch.actions)[:, None]).squeeze(1)
    expected = (chosen - (torch.from_numpy(batch.returns) + 0.9 * value)).abs().numpy()
    np.testing.assert_allclose(q.update(alive).td_errors, expected, rtol=1e-5, atol=1e-6)


def test_set_lr_applies_to_every_param_group() -> None:
    q = _learner()
    q.set_lr(0.0123)
    assert {g["lr"] for g in q.optimizer.param_groups} == {0.0123}


def test_pixel_observations_are_stored_as_uint8_and_fed_as_floats() -> None:
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    space = gym.spaces.Box(0, 255, (42, 42, 2), np.uint8)
    model = DefaultModelConfig(conv_filters=[[8, [4, 4], 2], [8, [4, 4], 2]], fcnet_hiddens=[16], head_fcnet_hiddens=[])
    module = (
        DQNConfig().environment(observation_space=space, action_space=gym.spaces.Discrete(ACTIONS))
        .rl_module(model_config=model).get_rl_module_spec().build()
    )  # fmt: skip
    module.make_target_networks()
    q = QLearner(
        module, torch.optim.Adam(module.parameters(), 1e-3), double_q=True, huber=True, grad_clip=40.0, tau=1.0, seed=0
    )
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (8, 42, 42, 2), dtype=np.uint8)
    assert q.act(obs, epsilon=0.0).shape == (8,)
    batch = Batch(np.arange(8), obs, rng.integers(ACTIONS, size=8), np.ones(8, np.float32), obs,
                  np.full(8, 0.9, np.float32), np.ones(8, np.float32))  # fmt: skip
    assert np.isfinite(q.update(batch).loss)


@pytest.mark.parametrize("dueling", [True, False])
def test_the_lean_forward_computes_rllibs_q_values(dueling: bool) -> None:
    from ray.rllib.core.columns import Columns

    from sf2rl.learn.q_network import LeanQ

    q = _learner(double_q=True, dueling=dueling)
    obs = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (16, OBS)).astype(np.float32))
    q.update(_batch())  # online and target differ after a step: each lean pass must read its own network
    with torch.no_grad():
        online = q.module.compute_q_values({Columns.OBS: obs})["qf_preds"]
        target = q.module.forward_target({Columns.OBS: obs})["qf_preds"]
        torch.testing.assert_close(LeanQ.of(q.module)(obs), online)
        torch.testing.assert_close(LeanQ.of(q.module, target=True)(obs), target)
    assert not torch.allclose(online, target)


@pytest.mark.parametrize("double_q", [True, False])
def test_lean_updates_train_exactly_as_rllibs_forward_would(double_q: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from sf2rl.learn import q_learner

    lean = _learner(double_q, dueling=True, seed=3)
    monkeypatch.setattr(q_learner.LeanQ, "of", classmethod(lambda cls, *a, **k: (_ for _ in ()).throw(ValueError())))
    stock = _learner(double_q, dueling=True, seed=3)  # RLlib's own forward passes (the fallback)
    assert not isinstance(stock._online, q_learner.LeanQ) and isinstance(lean._online, q_learner.LeanQ)
    rng = np.random.default_rng(4)
    for step in range(5):
        batch = _batch(seed=step)
        batch = Batch(batch.indices, batch.obs, batch.actions, batch.returns, rng.uniform(-1, 1, batch.obs.shape)
                      .astype(np.float32), np.full(64, 0.97, np.float32), batch.weights)  # fmt: skip
        a, b = lean.update(batch), stock.update(batch)
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
        np.testing.assert_allclose(a.td_errors, b.td_errors, rtol=1e-4, atol=1e-6)
        lean.sync_target()
        stock.sync_target()
    for pa, pb in zip(lean.module.parameters(), stock.module.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-6)


def test_double_q_bootstraps_the_target_networks_value_of_the_online_networks_choice() -> None:
    q = _learner(double_q=True, dueling=False, seed=5)
    with torch.no_grad():
        for p in q.module.parameters():
            p.add_(torch.randn_like(p))  # online and target now disagree about the best next action
    batch = _batch(n=32, seed=6)
    next_obs = np.random.default_rng(7).uniform(-1, 1, batch.obs.shape).astype(np.float32)
    batch = Batch(batch.indices, batch.obs, batch.actions, np.zeros(32, np.float32), next_obs,
                  np.ones(32, np.float32), batch.weights)  # fmt: skip
    from ray.rllib.core.columns import Columns

    with torch.no_grad():
        o = torch.from_numpy(batch.obs)
        n = torch.from_numpy(next_obs)
        q_sa = q.module.compute_q_values({Columns.OBS: o})["qf_preds"].gather(
            1, torch.from_numpy(batch.actions)[:, None]
        )
        online_next = q.module.compute_q_values({Columns.OBS: n})["qf_preds"]
        target_next = q.module.forward_target({Columns.OBS: n})["qf_preds"]
        double = target_next.gather(1, online_next.argmax(1, keepdim=True))
        vanilla = target_next.max(1, keepdim=True).values
    assert not torch.allclose(double, vanilla)  # the test tells the two targets apart
    stats = q.update(batch)
    np.testing.assert_allclose(stats.td_errors, (q_sa - double).abs().squeeze(1).numpy(), rtol=1e-4, atol=1e-5)


def _disagreeing(double_q: bool, n: int = 32) -> tuple[QLearner, Batch, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A learner whose online and target nets differ, a batch with large TD errors and uneven weights, and
    Q(s, a), the online net's next values and the target net's next values under it."""
    from ray.rllib.core.columns import Columns

    q = _learner(double_q=double_q, dueling=False, seed=5)
    with torch.no_grad():
        for p in q.module.parameters():
            p.add_(torch.randn_like(p))
    base = _batch(n=n, seed=6)
    rng = np.random.default_rng(8)
    next_obs = rng.uniform(-1, 1, base.obs.shape).astype(np.float32)
    returns = rng.uniform(-20, 20, n).astype(np.float32)  # |TD| well past Huber's 1: Huber and MSE differ
    weights = rng.uniform(0.1, 2.0, n).astype(np.float32)  # prioritized replay's importance weights
    batch = Batch(base.indices, base.obs, base.actions, returns, next_obs, np.full(n, 0.9, np.float32), weights)
    with torch.no_grad():
        q_sa = q.module.compute_q_values({Columns.OBS: torch.from_numpy(batch.obs)})["qf_preds"].gather(
            1, torch.from_numpy(batch.actions)[:, None]).squeeze(1)  # fmt: skip
        online_next = q.module.compute_q_values({Columns.OBS: torch.from_numpy(next_obs)})["qf_preds"]
        target_next = q.module.forward_target({Columns.OBS: torch.from_numpy(next_obs)})["qf_preds"]
    return q, batch, q_sa, online_next, target_next


def test_vanilla_dqn_bootstraps_the_target_networks_own_best_value() -> None:
    q, batch, q_sa, online_next, target_next = _disagreeing(double_q=False)
    vanilla = target_next.max(1).values
    double = target_next.gather(1, online_next.argmax(1, keepdim=True)).squeeze(1)
    assert not torch.allclose(double, vanilla)
    expected = (q_sa - (torch.from_numpy(batch.returns) + 0.9 * vanilla)).abs().numpy()
    np.testing.assert_allclose(q.update(batch).td_errors, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("huber", [True, False])
def test_the_loss_is_the_importance_weighted_mean_of_huber_or_squared_errors(huber: bool) -> None:
    built, batch, q_sa, online_next, target_next = _disagreeing(double_q=True)
    q = QLearner(built.module, built.optimizer, double_q=True, huber=huber, grad_clip=40.0, tau=1.0, seed=0)
    target = torch.from_numpy(batch.returns) + 0.9 * target_next.gather(1, online_next.argmax(1, keepdim=True)).squeeze(
        1
    )
    err = (q_sa - target).abs()
    per_sample = torch.where(err < 1, 0.5 * err**2, err - 0.5) if huber else err**2
    expected = float((torch.from_numpy(batch.weights) * per_sample).mean())
    stats = q.update(batch)
    assert stats.loss == pytest.approx(expected, rel=1e-5)
    # The Q value a trial reports (qf_mean): the mean of Q(s, a) over the batch, before the step.
    assert stats.q_mean == pytest.approx(float(q_sa.mean()), rel=1e-5, abs=1e-6)


def test_epsilon_greedy_keeps_the_greedy_action_where_it_does_not_explore() -> None:
    q = _learner(seed=3)
    obs = np.random.default_rng(4).uniform(-1, 1, (4000, OBS)).astype(np.float32)
    greedy = q.greedy(obs)
    acted = q.act(obs, epsilon=0.5)
    differs = float((acted != greedy).mean())
    # Half explore, and a random action matches the greedy one a quarter of the time: 3/8 differ.
    assert 0.33 < differs < 0.42
    assert acted.dtype.kind == "i" and set(np.unique(acted)) <= set(range(ACTIONS))


@pytest.mark.parametrize("clip", [None, 1e-3])
def test_gradients_are_clipped_to_the_configured_norm(clip: float | None) -> None:
    q = _learner(grad_clip=clip)
    q.update(_batch())
    norm = float(torch.sqrt(sum((p.grad**2).sum() for p in q.params if p.grad is not None)))
    assert norm <= 1e-3 * 1.0001 if clip else norm > 1e-2


def test_same_seed_same_exploration() -> None:
    obs = np.random.default_rng(0).uniform(-1, 1, (256, OBS)).astype(np.float32)
    a, b, c = _learner(seed=5), _learner(seed=5), _learner(seed=6)
    assert np.array_equal(a.act(obs, epsilon=0.5), b.act(obs, epsilon=0.5))
    assert not np.array_equal(a.act(obs, epsilon=0.5), c.act(obs, epsilon=0.5))


def test_adam_is_switched_to_its_fused_kernel_unless_the_caller_chose_foreach() -> None:
    learner = _learner()
    assert [g["fused"] for g in learner.optimizer.param_groups] == [True]
    module = learner.module
    chosen = torch.optim.Adam(module.parameters(), lr=3e-3, foreach=True)
    QLearner(module, chosen, double_q=True, huber=True, grad_clip=None, tau=1.0, seed=0)
    assert [g["fused"] for g in chosen.param_groups] == [None]  # the caller's foreach is kept
