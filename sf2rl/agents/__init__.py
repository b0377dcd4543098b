"""Agents: the Policy protocol, the scripted baselines and trained checkpoints as policies.

One factory turns an ``opponent`` / policy string into a Policy. Loading a
checkpoint imports RLlib and torch only when a checkpoint is actually loaded.
"""
