"""Baseline policies by name, so that every table has reference rows: random, noop, block, mash, scripted.

The scripted ones (``heuristic``, ``cpu-N``) are the simulator's own agents; they
think in raw button masks, which are mapped onto the nearest action of the seat's
action set (exactly, for the 'seed' and 'specials' sets).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sf2rl.config import EnvConfig
from sf2rl.errors import ConfigError
from sf2rl.game.actions import get_action_set
from sf2rl.game.spec import GameState

if TYPE_CHECKING:
    from sf2rl.policies import Policy

Seat = Literal["agent", "opponent"]
NAME_PATTERN = re.compile(r"random|noop|block|heuristic|cpu-\d+|mash-\w+")

BASELINES: dict[str, str] = {
    "random": "uniformly random actions of the env's action set",
    "noop": "never touches the pad",
    "block": "holds down-back: crouch-blocks everything low and mid",
    "heuristic": "the simulator's scripted agent: fireballs from afar, uppercut anti-airs, sweeps up close",
    "cpu-N": "the simulator's built-in CPU logic at level N (1-8), playing as an agent",
    "mash-B": "mashes one attack button B (lp, mp, hp, lk, mk, hk; those in the action set)",
}
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
        from sf2rl.game.specs import SNES_BUTTONS

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


def baseline(name: str, env_config: EnvConfig, seed: int | None = None, seat: Seat = "agent") -> Policy | None:
    """The baseline called ``name`` bound to the env's action set, or None if no baseline has that name."""
    scripted = is_scripted(name)
    # Player 2 has its own encoder, so scripted agents keep their full vocabulary there.
    aset = "seed" if scripted and seat == "opponent" else env_config.action_set
    if scripted and env_config.game not in SCRIPTED_GAMES:
        raise ConfigError(
            f"baseline {name!r} reads the simulator's RAM; it plays only game 'sim', not {env_config.game!r}"
        )
    if name == "random":
        return RandomPolicy(aset, seed)
    if name == "noop":
        return ConstantPolicy("noop", aset, "neutral")
    if name == "block":
        return ConstantPolicy("block", aset, "down-back")
    if name == "heuristic":
        from emulator_worker.sim import HeuristicAgent

        fpc = env_config.frame_skip
        return ScriptedPolicy(name, aset, lambda _seed: HeuristicAgent(frames_per_call=fpc))
    if m := re.fullmatch(r"cpu-(\d+)", name):
        level = int(m.group(1))
        if not 1 <= level <= 8:
            raise ConfigError(f"baseline {name!r}: CPU levels are 1-8")
        from emulator_worker.sim import CpuAgent

        fpc = env_config.frame_skip
        return ScriptedPolicy(name, aset, lambda s: CpuAgent(level, rng=s, frames_per_call=fpc))
    if name.startswith("mash-"):
        button = name.removeprefix("mash-")
        names = {a.name for a in get_action_set(aset)}
        valid = [b for b in ("lp", "mp", "hp", "lk", "mk", "hk") if b in names]
        if button not in valid:
            raise ConfigError(f"baseline {name!r}: action set {aset!r} can mash only {valid}")
        return MashPolicy(button, aset)
    return None


def is_baseline(source: str) -> bool:
    """Whether ``source`` names a baseline policy rather than a checkpoint path."""
    return NAME_PATTERN.fullmatch(source) is not None


def is_scripted(name: str) -> bool:
    """Whether ``name`` is one of the simulator's scripted agents (they think in raw button masks)."""
    return name == "heuristic" or re.fullmatch(r"cpu-\d+", name) is not None
