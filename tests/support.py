"""Helpers several test modules share (on pytest's `pythonpath`, see pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

from sf2rl.config import EnvConfig


def save_module(path: Path, cfg: EnvConfig) -> Path:
    """An untrained DQN RLModule for ``cfg``'s spaces, saved as a bare module checkpoint (no Ray runtime)."""
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from sf2rl.env import spaces

    obs, act = spaces(cfg)
    model = DefaultModelConfig(fcnet_hiddens=[16], head_fcnet_hiddens=[16])
    DQNConfig().environment(observation_space=obs, action_space=act).rl_module(
        model_config=model
    ).get_rl_module_spec().build().save_to_path(path)
    return path
