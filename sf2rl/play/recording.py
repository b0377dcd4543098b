"""`sf2rl play`: record one match as a GIF or MP4, with a HUD drawn over the backend's own frames.

The HUD reads the decoded game state (health, timer, rounds), never the
picture, so it works on any backend's RGB frames: the simulator's, retro's, or
BizHawk screenshots of a real ROM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sf2rl.agents.factory import load_policy
from sf2rl.core.errors import ConfigError
from sf2rl.core.game.actions import get_action_set
from sf2rl.core.game.spec import GameState
from sf2rl.env.environment import SF2Env
from sf2rl.play.arena import match_config

TOP = 34  # panel above the frame: health bars, timer, names
BOTTOM = 20  # panel below: the chosen actions
QPANEL = 40  # extra panel for Q-values
BAR_FILL = (40, 200, 60)
BAR_EMPTY = (170, 30, 30)
PANEL = (16, 16, 24)
END_HOLD_S = 1.5


@dataclass(frozen=True)
class HudLayout:
    """Where the HUD draws, for a frame ``width`` wide (tests measure the bars here)."""

    width: int
    frame_height: int
    q_panel: bool

    @property
    def height(self) -> int:
        """Canvas height: panels plus frame."""
        return TOP + self.frame_height + BOTTOM + (QPANEL if self.q_panel else 0)

    def bar(self, player: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of a player's health bar; player 2's drains towards the centre."""
        half = self.width // 2
        return (6, 6, half - 22, 16) if player == 1 else (half + 22, 6, self.width - 6, 16)


@dataclass(frozen=True)
class HudInfo:
    """What the HUD shows besides the game state."""

    names: tuple[str, str]
    action: str | None = None
    opponent_action: str | None = None
    q_values: np.ndarray | None = None
    action_names: tuple[str, ...] = ()
    banner: str | None = None
    step: int = 0


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _rgb(frame: np.ndarray) -> np.ndarray:
    """Any backend's frame as HxWx3 uint8 (BizHawk screenshots may carry alpha; some cores are grayscale)."""
    a = np.asarray(frame)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.shape[-1] == 4:
        a = a[..., :3]
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def draw_hud(frame: np.ndarray, state: GameState, max_health: int, info: HudInfo, q_panel: bool = False) -> Image.Image:
    """The frame framed by panels: health bars, timer, rounds, characters, actions and Q-values."""
    rgb = _rgb(frame)
    h, w = rgb.shape[:2]
    lay = HudLayout(w, h, q_panel)
    img = Image.new("RGB", (w, lay.height), PANEL)
    img.paste(Image.fromarray(rgb), (0, TOP))
    d = ImageDraw.Draw(img)
    small, big = _font(10), _font(14)
    for player, ps in ((1, state.p1), (2, state.p2)):
        x0, y0, x1, y1 = lay.bar(player)
        d.rectangle((x0, y0, x1, y1), fill=BAR_EMPTY)
        filled = round((x1 - x0) * max(0, min(ps.health, max_health)) / max_health)
        if filled:
            d.rectangle((x0, y0, x0 + filled, y1) if player == 1 else (x1 - filled, y0, x1, y1), fill=BAR_FILL)
        wins = "*" * ps.rounds_won
        label = f"{info.names[player - 1]} {wins}"
        if player == 1:
            d.text((x0, y1 + 3), label, fill="white", font=small)
        else:
            d.text((x1, y1 + 3), label, fill="white", font=small, anchor="ra")
    d.text((w // 2, 4), f"{state.timer:02d}", fill=(255, 220, 0), font=big, anchor="ma")
    y = TOP + h + 4
    if info.action is not None:
        d.text((6, y), f"P1: {info.action}", fill="white", font=small)
    if info.opponent_action is not None:
        d.text((w - 6, y), f"P2: {info.opponent_action}", fill="white", font=small, anchor="ra")
    # The step number also keeps every frame distinct, so GIF writers never merge frames of a still scene.
    d.text((w // 2, y), f"step {info.step}", fill=(140, 140, 150), font=small, anchor="ma")
    if q_panel:
        _draw_q(d, info, (6, TOP + h + BOTTOM, w - 6, lay.height - 4), small)
    if info.banner:
        d.text(
            (w // 2, TOP + h // 2),
            info.banner,
            fill=(255, 220, 0),
            font=_font(28),
            anchor="mm",
            stroke_width=2,
            stroke_fill="black",
        )
    return img


def _draw_q(d: ImageDraw.ImageDraw, info: HudInfo, box: tuple[int, int, int, int], font: Any) -> None:
    q = info.q_values
    if q is None or not len(q):
        d.text((box[0], box[1]), "no Q-values (baseline)", fill=(150, 150, 150), font=font)
        return
    x0, y0, x1, y1 = box
    top = y0 + 12
    lo, hi = float(np.min(q)), float(np.max(q))
    span = hi - lo or 1.0
    width = (x1 - x0) / len(q)
    best = int(np.argmax(q))
    for i, v in enumerate(q):
        bar_h = max(1, round((y1 - top) * (float(v) - lo) / span))
        color = (255, 220, 0) if i == best else (90, 140, 220)
        d.rectangle(
            (round(x0 + i * width), y1 - bar_h, max(round(x0 + i * width), round(x0 + (i + 1) * width) - 1), y1),
            fill=color,
        )
    name = info.action_names[best] if best < len(info.action_names) else str(best)
    d.text((x0, y0), f"Q best {name} {hi:.2f}  worst {lo:.2f}", fill="white", font=font)


class Recorder:
    """Collects HUD frames and writes a GIF (Pillow) or an MP4 (imageio-ffmpeg)."""

    def __init__(self, out: Path, fps: float) -> None:
        if out.suffix.lower() not in (".gif", ".mp4"):
            raise ConfigError(f"--out must end in .gif or .mp4, got {out.name!r}")
        self.out = out
        self.fps = fps
        self.frames: list[Image.Image] = []
        self.durations: list[int] = []
        self._writer: Any = None
        if out.suffix.lower() == ".mp4":
            import imageio.v2 as imageio

            # yuv420p needs even sides; macro_block_size=2 pads to them instead of resizing to 16s.
            self._writer = imageio.get_writer(out, fps=fps, codec="libx264", quality=7, macro_block_size=2)
        self.count = 0

    def add(self, img: Image.Image, hold_s: float | None = None) -> None:
        """Append a frame, shown for one frame period or ``hold_s`` seconds."""
        if self._writer is not None:
            for _ in range(max(1, round((hold_s or 0) * self.fps))):
                self._writer.append_data(np.asarray(img))
        else:
            # Palettize now: a long match of RGB frames would hold hundreds of MB.
            self.frames.append(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=128))
            self.durations.append(max(20, round((hold_s or 1 / self.fps) * 100) * 10))  # GIF delays are 1/100 s
        self.count += 1

    def close(self) -> None:
        """Finish the file."""
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if self._writer is not None:
            self._writer.close()
        elif self.frames:
            self.frames[0].save(
                self.out,
                save_all=True,
                append_images=self.frames[1:],
                duration=self.durations,
                loop=0,
                optimize=False,
                disposal=1,
            )


def record_match(
    source: str,
    out: Path,
    *,
    level: int = 3,
    characters: tuple[str, str] | None = None,
    seed: int = 0,
    q_values: bool = False,
    vs: str | None = None,
    every: int = 1,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Play one match of ``source`` (against CPU ``level`` or ``vs``) and record it; a summary."""

    if every < 1:
        raise ConfigError("--every must be at least 1")
    cfg = match_config(source, {**(overrides or {}), "difficulty": level})
    policy = load_policy(source, cfg, seed=seed)
    env = SF2Env(cfg, render_mode="rgb_array")
    env.ram_bytes = policy.needs_ram
    if vs is not None:
        env.set_opponent(load_policy(vs, cfg, seat="opponent", seed=seed + 1))
    opts = {"characters": characters} if characters else {}
    rec = Recorder(out, fps=60 / (cfg.frame_skip * every))
    try:
        obs, _ = env.reset(seed=seed, options=opts)
        policy.reset(seed=seed)
        names = tuple(
            env.game.characters[c] if c < len(env.game.characters) else "?"
            for c in (env.state.p1.character, env.state.p2.character)
        )
        p2_label = vs or f"CPU level {level}"
        action_names = tuple(a.name for a in env.actions)
        opp_names = tuple(a.name for a in get_action_set(env.opponent.action_set)) if env.opponent else ()

        def hud(step: int, action: str | None, q: np.ndarray | None, banner: str | None = None) -> Image.Image:
            opp = env.opponent_action
            info = HudInfo(
                (f"{names[0]} ({policy.name})", f"{names[1]} ({p2_label})"),
                action,
                opp_names[opp] if opp is not None and opp < len(opp_names) else None,
                q,
                action_names,
                banner,
                step,
            )
            return draw_hud(env.console.frame(), env.state, env.game.max_health, info, q_values)

        steps, done, info = 0, False, dict[str, Any]()
        rec.add(hud(0, None, None))
        while not done:
            q = policy.q_values(obs) if q_values else None
            action = policy.act(obs, env.state, ram=env.ram, player=0)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            steps += 1
            if steps % every == 0 or done:
                rec.add(hud(steps, action_names[action], q))
        banner = (
            "YOU WIN"
            if info.get("won")
            else "DRAW"
            if info.get("rounds_won") == info.get("rounds_lost")
            else "YOU LOSE"
        )
        rec.add(hud(steps, None, None, banner), hold_s=END_HOLD_S)
    finally:
        rec.close()
        env.close()
    return {
        "out": str(out),
        "frames": rec.count,
        "steps": steps,
        "won": bool(info.get("won")),
        "rounds_won": info.get("rounds_won"),
        "rounds_lost": info.get("rounds_lost"),
        "characters": list(names),
        "policy": policy.name,
        "opponent": p2_label,
    }
