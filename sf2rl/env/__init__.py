"""Env: the gymnasium semantics (observations, actions, frame skip, rewards, episodes).

``SF2Env`` is one match against the CPU or an opponent policy it is given;
``SF2VectorEnv`` steps several at once; frames can be published to ``sf2rl watch``.
"""

from sf2rl.env.environment import SF2Env, spaces
from sf2rl.env.vector import SF2VectorEnv

__all__ = ["SF2Env", "SF2VectorEnv", "spaces"]
