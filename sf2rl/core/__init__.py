"""Core: what every other layer may use and that uses none of them.

Errors, the env config, game knowledge as data (RAM maps, buttons, action sets),
rewards and the defaults shared across layers. Nothing here starts a process,
opens a socket or imports RLlib or torch.
"""
