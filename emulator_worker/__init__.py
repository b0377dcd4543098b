"""Emulator worker hosts: serve emulator slots (sim, stable-retro, BizHawk) over ZeroMQ.

Installable on its own (`pip install sf2rl[worker]`): needs only pyzmq, numpy and msgpack.
"""

__version__ = "0.1.0"
