"""SF2Env: the one place with gymnasium semantics (obs, actions, frame skip, reward, episodes).

Player 2 is the game's CPU, or, in two-controller mode, an opponent policy (a
baseline or a frozen checkpoint) that sees the match from its own side.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from emulator_worker.protocol import Segment
from sf2rl.core import choice
from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import ConfigError
from sf2rl.core.game.actions import ActionEncoder, get_action_set
from sf2rl.core.game.spec import Category, Decoder, GameSpec, GameState
from sf2rl.core.game.specs import get_game
from sf2rl.core.rewards import Reward, in_health_units
from sf2rl.env.frames import FramePublisher
from sf2rl.env.opponent import Opponent
from sf2rl.transport.emulator import Console, open_console

CATEGORIES = tuple(Category)
INTRO_FRAMES_MAX = 600
SCALAR_FEATURES = (
    "health", "opp_health", "x", "opp_x", "distance", "y", "opp_y", "stun", "opp_stun", "timer",
    "projectile", "projectile_dx", "opp_projectile", "opp_projectile_dx", "rounds", "opp_rounds", "facing_right",
)  # fmt: skip


def ram_feature_size(game: GameSpec) -> int:
    """Length of the RAM feature vector: scalars, both fighters' categories and characters one-hot."""
    return len(SCALAR_FEATURES) + 2 * len(CATEGORIES) + 2 * len(game.characters)


def spaces(cfg: EnvConfig) -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    """The observation and action spaces an env with these options has."""
    if cfg.obs == "ram":
        size = ram_feature_size(get_game(cfg.game))
        obs: gym.spaces.Box = gym.spaces.Box(-1.0, 1.0, (size,), np.float32)
    else:
        obs = gym.spaces.Box(0, 255, (cfg.pixel_size, cfg.pixel_size, cfg.frame_stack), np.uint8)
    return obs, gym.spaces.Discrete(len(get_action_set(cfg.action_set)))


def plan_step(cfg: EnvConfig, beats: tuple[int, ...], last_mask: int) -> tuple[list[tuple[int, int]], int]:
    """One player's (mask, frames) runs for a step: delay, beats, hold and release; and the mask left held."""
    runs: list[tuple[int, int]] = []
    hold = cfg.hold_frames or cfg.frame_skip
    left = cfg.frame_skip
    if cfg.reaction_delay:
        runs.append((last_mask, cfg.reaction_delay))
        left -= cfg.reaction_delay
    if len(beats) > 1:
        # A motion needs at least one frame per beat, so a macro may outlast a very short step.
        per = max(1, min(3, left // len(beats)))
        runs += [(m, per) for m in beats[:-1]]
        runs.append((beats[-1], max(1, left - per * (len(beats) - 1))))
    else:
        held = min(hold, left)
        runs.append((beats[0], held))
        if left > held:
            runs.append((0, left - held))
    return runs, runs[-1][0] if len(beats) > 1 or hold >= left else 0


def merge_runs(p1: list[tuple[int, int]], p2: list[tuple[int, int]]) -> tuple[Segment, ...]:
    """Both players' runs as one list of segments, cut wherever either player's input changes."""
    frames1 = [m for m, n in p1 for _ in range(n)]
    frames2 = [m for m, n in p2 for _ in range(n)]
    # A macro can outlast the step on one side only: the other side keeps its last input meanwhile.
    length = max(len(frames1), len(frames2))
    frames1 += [frames1[-1]] * (length - len(frames1))
    frames2 += [frames2[-1]] * (length - len(frames2))
    segs: list[Segment] = []
    for a, b in zip(frames1, frames2, strict=True):
        if segs and segs[-1].p1 == a and segs[-1].p2 == b:
            segs[-1] = Segment(a, b, segs[-1].frames + 1)
        else:
            segs.append(Segment(a, b, 1))
    return tuple(segs)


class SF2Env(gym.Env[np.ndarray, np.int64]):
    """Street Fighter II (or the built-in simulator) as a gymnasium env, played as player 1."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}  # noqa: RUF012 (gymnasium's own attribute)

    def __init__(
        self,
        config: EnvConfig | Mapping[str, Any] | None = None,
        render_mode: str | None = None,
        *,
        opponent: Opponent | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(config, EnvConfig):
            self.config = EnvConfig(**{**config.model_dump(), **kwargs}) if kwargs else config
        else:
            self.config = EnvConfig(**{**dict(config or {}), **kwargs})
        cfg = self.config
        self.render_mode = render_mode
        self.game = get_game(cfg.game)
        self.decoder = Decoder(self.game)
        self.actions = get_action_set(cfg.action_set)
        self.observation_space, self.action_space = spaces(cfg)
        self._ram_size = ram_feature_size(self.game)  # also needed in pixels mode, for opponents
        scale = cfg.reward.scale / (
            self.game.max_health if cfg.reward.normalize and in_health_units(cfg.reward.name) else 1
        )
        self.reward_fn = Reward(cfg.reward.name, cfg.reward.params, scale, cfg.reward.clip)
        self._console: Console | None = None
        self._encoder: ActionEncoder | None = None
        self._frames: deque[np.ndarray] = deque(maxlen=cfg.frame_stack)
        self._state: GameState | None = None
        self._last_mask = 0
        self._steps = 0
        self._frames_played = 0
        self._pixel_index: tuple[np.ndarray, np.ndarray] | None = None
        self.ram_bytes = 0
        """Set above 0 to also fetch that many raw RAM bytes each step into :attr:`ram` (scripted agents)."""
        self.ram: np.ndarray | None = None
        self._full_ram = 0
        if cfg.opponent != "cpu" and opponent is None:
            raise ConfigError(
                f"env option opponent={cfg.opponent!r} names a policy the env cannot build itself: create the env "
                "with sf2rl.agents.factory.make_env (or gymnasium.make('SF2-v0')), or pass opponent=<a Policy>"
            )
        self._opponent: Opponent | None = opponent
        self._opp_encoders: dict[str, ActionEncoder] = {}
        self._opp_last_mask = 0
        self.opponent_action: int | None = None
        """Player 2's last action index (two-controller mode), for HUDs."""
        self._episodes = 0
        self._return = 0.0
        self._publisher: FramePublisher | None = None

    # ------------------------------------------------------------ plumbing

    @property
    def console(self) -> Console:
        """The emulator, opened on first use so that constructing an env is cheap."""
        if self._console is None:
            self._console = open_console(self.config)
            buttons = self.game.buttons.get(self._console.backend)
            if buttons is None:
                raise ValueError(f"game {self.game.id} has no button map for backend {self._console.backend}")
            self._encoder = ActionEncoder(self.actions, buttons, self._console.buttons)
        return self._console

    def _pick(self, options: Any) -> Any:
        return choice.pick(options, self.np_random)

    @property
    def state(self) -> GameState:
        """The decoded state after the last reset or step."""
        if self._state is None:
            raise RuntimeError("call reset() before reading the state")
        return self._state

    @property
    def opponent(self) -> Opponent | None:
        """Player 2's policy in two-controller mode, or None when the game's CPU plays."""
        return self._opponent

    def set_opponent(self, policy: Opponent | None) -> None:
        """Let ``policy`` play player 2 from the next reset on (None: the game's CPU)."""
        self._opponent = policy

    def _ranges(self) -> tuple[tuple[int, int], ...]:
        opp = self.opponent
        self._full_ram = max(self.ram_bytes, opp.needs_ram if opp is not None else 0)
        return ((0, self._full_ram),) if self._full_ram else self.decoder.ranges

    def _decode(self, ram: bytes) -> GameState:
        if self._full_ram:
            # The raw RAM was fetched for a scripted agent: cut the decoder's ranges out of it.
            self.ram = np.frombuffer(ram, np.uint8)
            ram = b"".join(bytes(ram[s : s + n]) for s, n in self.decoder.ranges)
        return self.decoder.decode(ram)

    # ------------------------------------------------------------- gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new match (and skip its intro); ``options`` may set this match's characters and difficulty."""
        super().reset(seed=seed)
        cfg = self.config
        opts = options or {}
        chars = tuple(self.game.characters.index(self._pick(c)) for c in opts.get("characters", cfg.characters))
        difficulty = int(self._pick(opts.get("difficulty", cfg.difficulty)))
        pixels = cfg.obs == "pixels"
        opponent = self.opponent
        if opponent is not None:
            opponent.reset(seed=int(self.np_random.integers(2**31)))
        ranges = self._ranges()
        obs = self.console.reset(
            ranges, pixels, seed=int(self.np_random.integers(2**62)), characters=chars,
            difficulty=difficulty, two_player=opponent is not None, state=cfg.start_state,
        )  # fmt: skip
        state = self._decode(obs.ram)
        frames = 0
        intro = self.game.intro_phase
        while intro is not None and state.phase == intro and frames < INTRO_FRAMES_MAX:
            obs = self.console.step((Segment(0, 0, 15),), ranges, pixels)
            state, frames = self._decode(obs.ram), frames + 15
        self._state = state
        self._last_mask = 0
        self._opp_last_mask = 0
        self.opponent_action = None
        self._steps = 0
        self._frames_played = 0
        self._episodes += 1
        self._return = 0.0
        self._frames.clear()
        if pixels:
            for _ in range(cfg.frame_stack):
                self._frames.append(self._gray(obs.frame))
        return self._observe(state), {"characters": chars, "difficulty": difficulty}

    def segments(self, action: int, facing_right: bool) -> tuple[Segment, ...]:
        """The input segments one agent step sends: delay, beats, hold and release."""
        assert self._encoder is not None
        runs, self._last_mask = plan_step(self.config, self._encoder.beats(action, facing_right), self._last_mask)
        return tuple(Segment(m, 0, n) for m, n in runs)

    def _opponent_runs(self, state: GameState) -> list[tuple[int, int]]:
        """Player 2's inputs for this step, decided from its own side of ``state``."""
        opponent = self._opponent
        assert opponent is not None
        mine = state.swapped()
        obs = self.ram_features(mine)
        action = int(opponent.act(obs, mine, ram=self.ram, player=1))
        encoder = self._opp_encoders.get(opponent.action_set)
        if encoder is None:
            actions = get_action_set(opponent.action_set)
            encoder = ActionEncoder(actions, self.game.buttons[self.console.backend], self.console.buttons)
            self._opp_encoders[opponent.action_set] = encoder
        if not 0 <= action < len(encoder.actions):
            raise ValueError(f"opponent {opponent.name} chose action {action} outside its {len(encoder.actions)}")
        self.opponent_action = action
        runs, self._opp_last_mask = plan_step(
            self.config, encoder.beats(action, mine.p1.x <= mine.p2.x), self._opp_last_mask
        )
        return runs

    def run_pads(self, p1_mask: int, p2_mask: int, frames: int = 1) -> tuple[GameState, np.ndarray | None]:
        """Hold raw backend pad masks for ``frames`` frames, outside the action set; the state and frame after.

        For a person at the controls (`sf2rl arcade`), whose pad changes every frame. ``p2_mask``
        counts only in two-controller mode (an opponent was set before the reset).
        """
        if self._state is None:
            raise RuntimeError("call reset() before run_pads()")
        obs = self.console.step((Segment(p1_mask, p2_mask, frames),), self._ranges(), True)
        self._state = self._decode(obs.ram)
        self._frames_played += frames
        return self._state, obs.frame

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Run one agent step of ``frame_skip`` frames."""
        self.step_async(action)
        return self.step_wait()

    def step_async(self, action: np.int64 | int) -> None:
        """Send one agent step to the emulator and return at once; :meth:`step_wait` finishes it.

        Stepping several envs this way runs their emulators at the same time (:mod:`sf2rl.env.vector`).
        """
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(int(action)):
            raise ValueError(f"action {action!r} outside Discrete({len(self.actions)})")
        prev = self._state
        segments = self.segments(int(action), prev.p1.x <= prev.p2.x)
        if self._opponent is not None:
            segments = merge_runs([(s.p1, s.frames) for s in segments], self._opponent_runs(prev))
        self.console.step_async(segments, self._ranges(), self.config.obs == "pixels")
        self._frames_played += sum(s.frames for s in segments)

    def step_wait(self) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """The result of the step sent by :meth:`step_async`."""
        prev = self._state
        assert prev is not None
        obs = self.console.step_wait()
        curr = self._decode(obs.ram)
        if self.config.obs == "pixels":
            self._frames.append(self._gray(obs.frame))
        self._state = curr
        self._steps += 1
        reward = self.reward_fn(prev, curr)
        self._return += reward
        terminated = curr.match_over if self.config.episode == "match" else curr.round_over
        truncated = not terminated and self._steps >= self.config.max_episode_steps
        info: dict[str, Any] = {"frames": self._frames_played}
        if (rtt := self.console.rtt_ms) is not None:
            info["rtt_ms"] = rtt
        if terminated or truncated:
            info.update(self._outcome(curr, terminated))
        if self.config.publish_frames:
            self._publish(curr)
        return self._observe(curr), reward, terminated, truncated, info

    def _publish(self, state: GameState) -> None:
        """Offer a frame to the `sf2rl watch` viewer; rate-limited and never blocking."""
        if self._publisher is None:
            self._publisher = FramePublisher(str(self.config.publish_frames), self.config.publish_fps)
        if self._publisher.due():
            meta = {
                "episode": self._episodes, "step": self._steps, "return": round(self._return, 3),
                "health": [state.p1.health, state.p2.health], "max_health": self.game.max_health,
                "rounds": [state.p1.rounds_won, state.p2.rounds_won], "timer": state.timer,
                "opponent": self._opponent.name if self._opponent is not None else "cpu",
                "label": self.config.publish_label,
            }  # fmt: skip
            self._publisher.publish(self.console.frame(), meta)

    def _outcome(self, s: GameState, terminated: bool) -> dict[str, Any]:
        if self.config.episode == "match":
            won = s.p1.rounds_won > s.p2.rounds_won
        else:
            won = s.round_winner == 1
        return {
            "won": bool(terminated and won),
            "health_left": s.p1.health,
            "opponent_health_left": s.p2.health,
            "rounds_won": s.p1.rounds_won,
            "rounds_lost": s.p2.rounds_won,
        }

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """The current RGB frame (render_mode 'rgb_array')."""
        return self.console.frame() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        """Release the emulator."""
        if self._console is not None:
            self._console.close()
            self._console = None
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    # --------------------------------------------------------- observation

    def _observe(self, s: GameState) -> np.ndarray:
        if self.config.obs == "pixels":
            return np.stack(self._frames, axis=-1)
        return self.ram_features(s)

    def ram_features(self, s: GameState) -> np.ndarray:
        """The normalized feature vector of a state, from player 1's side."""
        g = self.game
        me, op = s.p1, s.p2
        w, hp = float(g.stage_width), float(g.max_health)
        scalars = [
            me.health / hp, op.health / hp, me.x / w, op.x / w, (op.x - me.x) / w, me.y / 128, op.y / 128,
            me.stun / 64, op.stun / 64, s.timer / g.round_seconds,
            float(me.projectile), (me.projectile_x - me.x) / w if me.projectile else 0.0,
            float(op.projectile), (op.projectile_x - me.x) / w if op.projectile else 0.0,
            me.rounds_won / g.rounds_to_win, op.rounds_won / g.rounds_to_win, float(me.x <= op.x),
        ]  # fmt: skip
        n = len(g.characters)
        vec = np.zeros(self._ram_size, np.float32)
        k = len(scalars)
        vec[:k] = scalars
        vec[k + CATEGORIES.index(me.category)] = 1.0
        vec[k + len(CATEGORIES) + CATEGORIES.index(op.category)] = 1.0
        base = k + 2 * len(CATEGORIES)
        if me.character < n:
            vec[base + me.character] = 1.0
        if op.character < n:
            vec[base + n + op.character] = 1.0
        return np.clip(vec, -1.0, 1.0)

    def _gray(self, frame: np.ndarray | None) -> np.ndarray:
        if frame is None:
            raise RuntimeError("backend returned no frame for a pixels observation")
        if self._pixel_index is None:
            size = self.config.pixel_size
            self._pixel_index = (
                np.linspace(0, frame.shape[0] - 1, size).astype(np.intp)[:, None],
                np.linspace(0, frame.shape[1] - 1, size).astype(np.intp)[None, :],
            )
        small = frame[self._pixel_index].astype(np.float32)
        return (small @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
