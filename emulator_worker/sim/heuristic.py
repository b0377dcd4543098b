"""A short scripted agent: fireballs from afar, uppercut anti-airs, sweeps up close.

It is a baseline for calibration and for comparing learned agents: it reads
only the RAM view and answers with masks, one call per agent step. It never
blocks, on purpose: a simple, readable strategy of about CPU level 3 strength.
"""

from __future__ import annotations

from typing import Any

from .buttons import DOWN, HK, HP, MK, pad_for
from .characters import ROSTER
from .fighter import (
    FREE,
    KNOCKDOWN,
)
from .frame_data import CHARGE_BF, CHARGE_DU, DP, QCF, RISING
from .observation import observe

ZONE = 105  # throw fireballs from further than this (pixels between centres)
POKE = 96  # low forward kick from closer than this


class HeuristicAgent:
    """``agent(ram, player) -> mask``; call once per ``frames_per_call`` frames (default 4)."""

    def __init__(self, frames_per_call: int = 4) -> None:
        if frames_per_call < 1:
            raise ValueError("frames_per_call must be >= 1")
        self.fpc = frames_per_call
        self.plan: list[int] = []  # masks for the next calls, last element first
        self.back_held = 0
        self.down_held = 0
        self._round = -1

    def __call__(self, ram: Any, player: int) -> int:
        obs = observe(ram, player)
        rnd = int(ram[0x19]) if not hasattr(ram, "fighters") else ram.round
        if rnd != self._round:
            self._round = rnd
            self.plan = []
        mask = self.plan.pop() if self.plan else self._decide(obs)
        back = pad_for(4, obs.me.facing)
        self.back_held = self.back_held + self.fpc if mask & back else 0
        self.down_held = self.down_held + self.fpc if mask & DOWN else 0
        return mask

    def _queue(self, masks: list[int]) -> int:
        """Send ``masks`` over the next calls (first one now)."""
        self.plan = masks[:0:-1]
        return masks[0]

    def _decide(self, obs: Any) -> int:
        me, opp = obs.me, obs.opp
        if me.state not in FREE:
            return 0
        f = me.facing
        char = ROSTER[me.char]
        dist = abs(opp.x - me.x)
        fwd, back = pad_for(6, f), pad_for(4, f)

        # Anti-air: uppercut (or the character's rising special) against jump-ins.
        if opp.y > 0 and dist < 100 and opp.state != KNOCKDOWN:
            if char.has_motion(DP):
                return self._queue([fwd, DOWN, pad_for(3, f) | HP])
            rising = next((s for s in char.specials if s.moves[0].kind == RISING), None)
            if rising and rising.motion == CHARGE_DU and self.down_held >= char.charge:
                return self._queue([pad_for(8, f) | HK])
            return back
        # Zone from afar with the projectile, otherwise walk in.
        if dist > ZONE:
            if not me.proj:
                if char.has_motion(QCF):
                    return self._queue([DOWN, pad_for(3, f), fwd | HP])
                if char.has_motion(CHARGE_BF) and self.back_held >= char.charge:
                    return self._queue([fwd | HP])
            return fwd
        # Up close: throw, sweep, or poke with a low kick.
        if dist < 56:
            return self._queue([fwd | HP, 0])
        if dist < 80:
            return self._queue([DOWN | HK, DOWN, DOWN])
        if dist < POKE:
            return self._queue([DOWN | MK, DOWN])
        return fwd
