"""sf2rl: train and sweep RL agents that play Street Fighter II."""

import gymnasium as gym

__version__ = "0.1.0"

if "SF2-v0" not in gym.registry:
    gym.register(id="SF2-v0", entry_point="sf2rl.agents.factory:make_env")
