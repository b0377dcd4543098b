"""The built-in, ROM-free Street-Fighter-II-like game ("sim" backend).

Public interface::

    BUTTONS                      # SNES pad names; bit i of a mask == BUTTONS[i] held
    buttons_to_mask(names) -> int            # UnknownButtonError on a bad name
    CHARACTERS                   # ("ryu", "ken", "guile", "chunli", "zangief", "bison")
    RAM_SIZE, WIDTH, HEIGHT      # 0x2000 bytes of RAM view; 256x224 RGB frames
    SF2Sim(seed=0)
        .reset(*, seed=None, characters=(0, 1), difficulty=3, two_player=False)
        .step(p1, p2=0, frames=1)            # hold masks for `frames` frames (60/s)
        .ram() -> np.ndarray[uint8]          # fresh copy of the RAM view
        .frame() -> np.ndarray[(224, 256, 3) uint8]
        .save_state() -> bytes / .load_state(bytes)   # SimStateError on bad bytes
        .match_over -> bool
    SimStateError(ValueError)

Scripted players (both read the RAM view, or a sim directly, never hidden state)::

    CpuAgent(level, rng=0, frames_per_call=1)
        agent(sim_or_ram, player) -> int     # the built-in CPU's logic, for P1 or P2;
                                             # call once per `frames_per_call` frames
    cpu_action(sim_or_ram, player, level, rng, controller=None) -> int
                                             # one CPU decision (stateless by default)
    HeuristicAgent(frames_per_call=4)
        agent(ram, player) -> int            # zones with fireballs, anti-airs with
                                             # uppercuts, blocks, sweeps up close

``player`` is 0 for P1 and 1 for P2. Game rules, frame data and the RAM map
are in ``docs/simulator.md`` and in ``ram.PLAYER_FIELDS`` / ``ram.GLOBAL_FIELDS``.
"""

from __future__ import annotations

from .agent import CpuAgent, cpu_action
from .buttons import BUTTONS, UnknownButtonError, buttons_to_mask, mask_to_buttons
from .characters import BOSS, CHARACTERS, ROSTER
from .cpu import LEVELS, CpuController
from .fighter import STATE_NAMES
from .frame_data import MOVE_NAMES
from .game import PHASE_NAMES, SF2Sim
from .heuristic import HeuristicAgent
from .observation import Observation, observe
from .ram import GLOBAL_FIELDS, PLAYER_FIELDS, RAM_SIZE, player_base
from .render import HEIGHT, WIDTH
from .state import SimStateError

__all__ = [
    "BOSS",
    "BUTTONS",
    "CHARACTERS",
    "GLOBAL_FIELDS",
    "HEIGHT",
    "LEVELS",
    "MOVE_NAMES",
    "PHASE_NAMES",
    "PLAYER_FIELDS",
    "RAM_SIZE",
    "ROSTER",
    "STATE_NAMES",
    "WIDTH",
    "CpuAgent",
    "CpuController",
    "HeuristicAgent",
    "Observation",
    "SF2Sim",
    "SimStateError",
    "UnknownButtonError",
    "buttons_to_mask",
    "cpu_action",
    "mask_to_buttons",
    "observe",
    "player_base",
]
