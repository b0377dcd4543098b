"""`sf2rl play`: a decodable GIF/MP4 of one match whose HUD follows the game, on any backend's frame size."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from sf2rl.cli.main import main as sf2rl_main
from sf2rl.core.config import EnvConfig
from sf2rl.core.game.spec import Category, GameState, PlayerState
from sf2rl.play.recording import BAR_FILL, BOTTOM, QPANEL, TOP, HudInfo, HudLayout, draw_hud, record_match


def bar_fill(img: Image.Image | np.ndarray, layout: HudLayout, player: int) -> float:
    """Fraction of a health bar's middle row drawn in the fill colour."""
    a = np.asarray(img.convert("RGB") if isinstance(img, Image.Image) else img).astype(int)
    x0, y0, x1, y1 = layout.bar(player)
    row = a[(y0 + y1) // 2, x0 : x1 + 1]
    return float(np.mean(np.abs(row - np.array(BAR_FILL)).sum(axis=1) < 60))


def _state(h1: int, h2: int) -> GameState:
    def player(health: int) -> PlayerState:
        return PlayerState(health, 100, 0, 0, Category.IDLE, 0, 1, False, False, 0, 0, False)

    return GameState(player(h1), player(h2), 42, 1, 1, 0, 0, False, False)


@pytest.mark.parametrize("shape", [(224, 256, 3), (224, 320, 3), (240, 320, 4), (144, 160)])
def test_hud_fits_any_backends_frames(shape: tuple[int, ...]) -> None:
    """Simulator, Genesis (retro), BizHawk screenshot with alpha, and a grayscale core."""
    frame = np.full(shape, 90, np.uint8)
    img = draw_hud(frame, _state(176, 44), 176, HudInfo(("ryu", "ken"), "forward+hp"))
    layout = HudLayout(shape[1], shape[0], q_panel=False)
    assert img.size == (shape[1], shape[0] + TOP + BOTTOM) == (layout.width, layout.height)
    assert bar_fill(img, layout, 1) > 0.97
    assert bar_fill(img, layout, 2) == pytest.approx(0.25, abs=0.05)


def test_play_writes_a_gif_whose_hud_follows_the_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "match.gif"
    summary = record_match("noop", out, level=8, every=3, seed=4, overrides={"frame_skip": 8})
    assert summary["rounds_lost"] == 2  # standing still against the strongest CPU
    with Image.open(out) as gif:
        assert gif.n_frames == summary["frames"] > 20
        assert gif.size == (256, 224 + TOP + BOTTOM)
        layout = HudLayout(256, 224, q_panel=False)
        fills = []
        for i in range(gif.n_frames):
            gif.seek(i)
            fills.append(bar_fill(gif, layout, 1))
    assert fills[0] > 0.97 and min(fills) < 0.5
    assert len({round(f, 2) for f in fills}) > 3  # the bar drains step by step, then refills for round 2
    assert fills[-1] < 0.05  # the final frame: knocked out


def test_play_records_an_mp4_with_q_values_and_attaches_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from support import save_module

    ckpt = save_module(tmp_path / "module", EnvConfig(action_set="minimal"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("replays"))
    out = tmp_path / "match.mp4"
    args = ["play", str(ckpt), "--out", str(out), "--q-values", "--level", "8", "--every", "4", "--vs", "cpu-8"]
    args += ["--set", "action_set=minimal", "--set", "frame_skip=20"]
    args += ["--run-id", run.info.run_id, "--tracking-uri", uri]
    with pytest.raises(SystemExit) as code:
        sf2rl_main(args)
    assert code.value.code == 0
    reader = imageio.get_reader(str(out), format="FFMPEG")  # imageio-ffmpeg decodes what it encoded
    frames = np.stack([f for f in reader])  # not list(reader): its length hint is inf
    reader.close()
    assert frames.shape[1:] == (224 + TOP + BOTTOM + QPANEL, 256, 3)
    assert len(frames) > 10
    assert [a.path for a in client.list_artifacts(run.info.run_id, "replays")] == ["replays/match.mp4"]
