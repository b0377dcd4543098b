"""SF2Env: the one place with gymnasium semantics (obs, actions, frame skip, reward, episodes)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from emulator_worker.protocol import Segment
from sf2rl.config import EnvConfig
from sf2rl.console import Console, open_console
from sf2rl.game.actions import ActionEncoder, get_action_set
from sf2rl.game.spec import Category, Decoder, GameState
from sf2rl.game.specs import get_game
from sf2rl.rewards import HEALTH_BASED, Reward

CATEGORIES = tuple(Category)
INTRO_FRAMES_MAX = 600
SCALAR_FEATURES = (
    "health", "opp_health", "x", "opp_x", "distance", "y", "opp_y", "stun", "opp_stun", "timer",
    "projectile", "projectile_dx", "opp_projectile", "opp_projectile_dx", "rounds", "opp_rounds", "facing_right",
)  # fmt: skip


class SF2Env(gym.Env[np.ndarray, np.int64]):
    """Street Fighter II (or the built-in simulator) as a gymnasium env, played as player 1."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}

    def __init__(self, config: EnvConfig | Mapping[str, Any] | None = None, render_mode: str | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        if isinstance(config, EnvConfig):
            self.config = config.model_copy(update=kwargs) if kwargs else config
        else:
            self.config = EnvConfig(**{**dict(config or {}), **kwargs})
        cfg = self.config
        self.render_mode = render_mode
        self.game = get_game(cfg.game)
        self.decoder = Decoder(self.game)
        self.actions = get_action_set(cfg.action_set)
        self.action_space = gym.spaces.Discrete(len(self.actions))
        n_chars = len(self.game.characters)
        if cfg.obs == "ram":
            size = len(SCALAR_FEATURES) + 2 * len(CATEGORIES) + 2 * n_chars
            self.observation_space = gym.spaces.Box(-1.0, 1.0, (size,), np.float32)
        else:
            shape = (cfg.pixel_size, cfg.pixel_size, cfg.frame_stack)
            self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        scale = cfg.reward.scale / (self.game.max_health if cfg.reward.normalize and cfg.reward.name in HEALTH_BASED else 1)
        self.reward_fn = Reward(cfg.reward.name, cfg.reward.params, scale, cfg.reward.clip)
        self.hold = cfg.hold_frames or cfg.frame_skip
        self._console: Console | None = None
        self._encoder: ActionEncoder | None = None
        self._frames: deque[np.ndarray] = deque(maxlen=cfg.frame_stack)
        self._state: GameState | None = None
        self._last_mask = 0
        self._steps = 0
        self._frames_played = 0
        self._pixel_index: tuple[np.ndarray, np.ndarray] | None = None

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

    def _pick(self, choice: Any) -> Any:
        return choice[int(self.np_random.integers(len(choice)))] if isinstance(choice, list) else choice

    def _decode(self, ram: bytes) -> GameState:
        return self.decoder.decode(ram)

    # ------------------------------------------------------------- gym API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new match (and skip its intro)."""
        super().reset(seed=seed)
        cfg = self.config
        chars = tuple(self.game.characters.index(self._pick(c)) for c in cfg.characters)
        difficulty = int(self._pick(cfg.difficulty))
        pixels = cfg.obs == "pixels"
        obs = self.console.reset(
            self.decoder.ranges, pixels, seed=int(self.np_random.integers(2**62)), characters=chars,
            difficulty=difficulty, two_player=False, state=cfg.start_state,
        )  # fmt: skip
        state = self._decode(obs.ram)
        frames = 0
        while self.game.match_over_phase is not None and state.phase == 0 and frames < INTRO_FRAMES_MAX:
            obs = self.console.step((Segment(0, 0, 15),), self.decoder.ranges, pixels)
            state, frames = self._decode(obs.ram), frames + 15
        self._state = state
        self._last_mask = 0
        self._steps = 0
        self._frames_played = 0
        self._frames.clear()
        if pixels:
            for _ in range(cfg.frame_stack):
                self._frames.append(self._gray(obs.frame))
        return self._observe(state), {"characters": chars, "difficulty": difficulty}

    def segments(self, action: int, facing_right: bool) -> tuple[Segment, ...]:
        """The input segments one agent step sends: delay, beats, hold and release."""
        assert self._encoder is not None
        cfg = self.config
        beats = self._encoder.beats(action, facing_right)
        segs: list[Segment] = []
        left = cfg.frame_skip
        if cfg.reaction_delay:
            segs.append(Segment(self._last_mask, 0, cfg.reaction_delay))
            left -= cfg.reaction_delay
        if len(beats) > 1:
            # A motion needs at least one frame per beat, so a macro may outlast a very short step.
            per = max(1, min(3, left // len(beats)))
            segs += [Segment(m, 0, per) for m in beats[:-1]]
            segs.append(Segment(beats[-1], 0, max(1, left - per * (len(beats) - 1))))
        else:
            held = min(self.hold, left)
            segs.append(Segment(beats[0], 0, held))
            if left > held:
                segs.append(Segment(0, 0, left - held))
        self._last_mask = segs[-1].p1 if len(beats) > 1 or self.hold >= left else 0
        return tuple(segs)

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Run one agent step of ``frame_skip`` frames."""
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(int(action)):
            raise ValueError(f"action {action!r} outside Discrete({self.action_space.n})")
        prev = self._state
        pixels = self.config.obs == "pixels"
        segments = self.segments(int(action), prev.p1.x <= prev.p2.x)
        obs = self.console.step(segments, self.decoder.ranges, pixels)
        self._frames_played += sum(s.frames for s in segments)
        curr = self._decode(obs.ram)
        if pixels:
            self._frames.append(self._gray(obs.frame))
        self._state = curr
        self._steps += 1
        reward = self.reward_fn(prev, curr)
        terminated = curr.match_over if self.config.episode == "match" else curr.round_over
        truncated = not terminated and self._steps >= self.config.max_episode_steps
        info: dict[str, Any] = {"frames": self._frames_played}
        if (rtt := self.console.rtt_ms) is not None:
            info["rtt_ms"] = rtt
        if terminated or truncated:
            info.update(self._outcome(curr, terminated))
        return self._observe(curr), reward, terminated, truncated, info

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
        vec = np.zeros(self.observation_space.shape, np.float32)
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
