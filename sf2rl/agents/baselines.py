"""Baseline policies by name, so that every table has reference rows: random, noop, block, mash, scripted.

The scripted ones (``heuristic``, ``cpu-N``) are the simulator's own agents; they
think in raw button masks, which are mapped onto the nearest action of the seat's
action set (exactly, for the 'seed' and 'specials' sets).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import ConfigError
from sf2rl.core.game.actions import get_action_set
from sf2rl.core.game.spec import GameState
from sf2rl.core.game.specs import SNES_BUTTONS

if TYPE_CHECKING:
    from sf2rl.agents.policy import Policy

Seat = Literal["agent", "opponent"]
SCRIPTED_GAMES = ("sim",)


class _Baseline:
    needs_ram = 0

    def __init__(self, name: str, action_set: str) -> None:
        self.name = name
        self.action_set = action_set
        self.actions = get_action_set(action_set)

    def _index(self, action_name: str) -> int:
        names = [a.name for a in self.actions]
        if action_name not in names:
            raise ConfigError(
                f"baseline {self.name!r} needs action {action_name!r}, not in action set {self.action_set!r}"
            )
        return names.index(action_name)

    def reset(self, seed: int | None = None) -> None:
        """Nothing to forget."""

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        """Each baseline decides its own way."""
        raise NotImplementedError

    def q_values(self, obs: np.ndarray) -> np.ndarray | None:
        """Baselines have no Q-values."""
        return None

    def fork(self) -> Policy:
        """Constant baselines are stateless."""
        return self


class RandomPolicy(_Baseline):
    """Uniformly random actions."""

    def __init__(self, action_set: str, seed: int | None = None) -> None:
        super().__init__("random", action_set)
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Reseed, so that a seeded match is reproducible."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        """A random action."""
        return int(self.rng.integers(len(self.actions)))

    def fork(self) -> Policy:
        """A copy with its own random stream."""
        return RandomPolicy(self.action_set, int(self.rng.integers(2**31)))


class ConstantPolicy(_Baseline):
    """The same action every step (``noop``, ``block``)."""

    def __init__(self, name: str, action_set: str, action_name: str) -> None:
        super().__init__(name, action_set)
        self.index = self._index(action_name)

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        """The constant action."""
        return self.index


class MashPolicy(_Baseline):
    """Press and release one attack button, alternately (held buttons would not re-trigger)."""

    def __init__(self, button: str, action_set: str) -> None:
        super().__init__(f"mash-{button}", action_set)
        self.cycle = (self._index(button), self._index("neutral"))
        self.t = 0

    def reset(self, seed: int | None = None) -> None:
        """Start on a press."""
        self.t = 0

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        """Press, release, press, ..."""
        self.t += 1
        return self.cycle[(self.t - 1) % 2]

    def fork(self) -> Policy:
        """A copy with its own press/release phase."""
        return MashPolicy(self.name.removeprefix("mash-"), self.action_set)


class MaskMapper:
    """Maps the simulator pad's absolute button masks onto the nearest action of an action set."""

    def __init__(self, action_set: str) -> None:
        from emulator_worker.sim import BUTTONS

        logical = {v: k for k, v in SNES_BUTTONS.items()}
        self.bit_names = [logical[b] for b in BUTTONS]
        self.actions = [(i, set(a.beats[0])) for i, a in enumerate(get_action_set(action_set)) if not a.is_macro]
        self._cache: dict[tuple[int, bool], int] = {}

    def __call__(self, mask: int, facing_right: bool) -> int:
        key = (mask, facing_right)
        if key not in self._cache:
            fwd, back = ("right", "left") if facing_right else ("left", "right")
            names = {self.bit_names[i] for i in range(len(self.bit_names)) if mask >> i & 1}
            want = {"forward" if n == fwd else "back" if n == back else n for n in names} - {"start", "select"}

            def score(item: tuple[int, set[str]]) -> tuple[int, int]:
                have = item[1]
                attacks = sum(1 for n in want & have if n not in ("up", "down", "forward", "back"))
                return (3 * attacks + len(want & have) - len(want ^ have), -item[0])

            self._cache[key] = max(self.actions, key=score)[0]
        return self._cache[key]


class ScriptedPolicy(_Baseline):
    """A scripted agent of the simulator (``heuristic``, ``cpu-N``) reading the raw RAM view."""

    def __init__(self, name: str, action_set: str, factory: Callable[[int], Callable[[Any, int], int]]) -> None:
        from emulator_worker.sim import RAM_SIZE

        super().__init__(name, action_set)
        self.needs_ram = RAM_SIZE
        self.factory = factory
        self.agent = factory(0)
        self.mapper = MaskMapper(action_set)

    def reset(self, seed: int | None = None) -> None:
        """A fresh agent (scripted agents keep plans across calls)."""
        self.agent = self.factory(seed or 0)

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        """The agent's mask, as the nearest action."""
        if ram is None:
            raise RuntimeError(f"{self.name} needs the raw RAM view; set env.ram_bytes = policy.needs_ram")
        return self.mapper(self.agent(ram, player), state.p1.x <= state.p2.x)

    def fork(self) -> Policy:
        """A copy with its own agent."""
        return ScriptedPolicy(self.name, self.action_set, self.factory)


def _heuristic(_m: re.Match[str], cfg: EnvConfig, aset: str, _seed: int | None) -> Policy:
    from emulator_worker.sim import HeuristicAgent

    fpc = cfg.frame_skip
    return ScriptedPolicy("heuristic", aset, lambda _s: HeuristicAgent(frames_per_call=fpc))


def _cpu(m: re.Match[str], cfg: EnvConfig, aset: str, _seed: int | None) -> Policy:
    level = int(m.group(1))
    if not 1 <= level <= 8:
        raise ConfigError(f"baseline {m.group(0)!r}: CPU levels are 1-8")
    from emulator_worker.sim import CpuAgent

    fpc = cfg.frame_skip
    return ScriptedPolicy(m.group(0), aset, lambda s: CpuAgent(level, rng=s, frames_per_call=fpc))


def _mash(m: re.Match[str], _cfg: EnvConfig, aset: str, _seed: int | None) -> Policy:
    button = m.group(1)
    names = {a.name for a in get_action_set(aset)}
    valid = [b for b in ("lp", "mp", "hp", "lk", "mk", "hk") if b in names]
    if button not in valid:
        raise ConfigError(f"baseline {m.group(0)!r}: action set {aset!r} can mash only {valid}")
    return MashPolicy(button, aset)


class Entry(NamedTuple):
    """One baseline: the names it answers to, what it does, and how to build it for a seat's action set."""

    pattern: str
    summary: str
    build: Callable[[re.Match[str], EnvConfig, str, int | None], Policy]
    scripted: bool = False
    """One of the simulator's own agents: it reads the simulator's RAM and thinks in raw button masks."""


REGISTRY: dict[str, Entry] = {
    "random": Entry("random", "uniformly random actions of the env's action set",
                    lambda _m, _c, aset, seed: RandomPolicy(aset, seed)),
    "noop": Entry("noop", "never touches the pad", lambda _m, _c, aset, _s: ConstantPolicy("noop", aset, "neutral")),
    "block": Entry("block", "holds down-back: crouch-blocks everything low and mid",
                   lambda _m, _c, aset, _s: ConstantPolicy("block", aset, "down-back")),
    "heuristic": Entry("heuristic", "the simulator's scripted agent: fireballs from afar, uppercut anti-airs, "
                       "sweeps up close", _heuristic, scripted=True),
    "cpu-N": Entry(r"cpu-(\d+)", "the simulator's built-in CPU logic at level N (1-8), playing as an agent", _cpu,
                   scripted=True),
    "mash-B": Entry(r"mash-(\w+)", "mashes one attack button B (lp, mp, hp, lk, mk, hk; those in the action set)",
                    _mash),
}  # fmt: skip
"""Every baseline, by the name users see: a new baseline is one entry here."""
BASELINES: dict[str, str] = {name: entry.summary for name, entry in REGISTRY.items()}


def _entry(name: str) -> tuple[Entry, re.Match[str]] | None:
    for entry in REGISTRY.values():
        if m := re.fullmatch(entry.pattern, name):
            return entry, m
    return None


def baseline(name: str, env_config: EnvConfig, seed: int | None = None, seat: Seat = "agent") -> Policy | None:
    """The baseline called ``name`` bound to the env's action set, or None if no baseline has that name."""
    found = _entry(name)
    if found is None:
        return None
    entry, match = found
    # Player 2 has its own encoder, so scripted agents keep their full vocabulary there.
    aset = "seed" if entry.scripted and seat == "opponent" else env_config.action_set
    if entry.scripted and env_config.game not in SCRIPTED_GAMES:
        raise ConfigError(
            f"baseline {name!r} reads the simulator's RAM; it plays only game 'sim', not {env_config.game!r}"
        )
    return entry.build(match, env_config, aset, seed)


def is_baseline(source: str) -> bool:
    """Whether ``source`` names a baseline policy rather than a checkpoint path."""
    return _entry(source) is not None


def is_scripted(name: str) -> bool:
    """Whether ``name`` is one of the simulator's scripted agents (they think in raw button masks)."""
    found = _entry(name)
    return found is not None and found[0].scripted
