"""`sf2rl watch`: envs publish frames without ever blocking; a real headless Chromium sees the mosaic update."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from sf2rl.cli.main import build_parser
from sf2rl.core.config import EnvConfig
from sf2rl.core.tags import TAG_KIND, WATCH_TAG
from sf2rl.env.environment import SF2Env
from sf2rl.play.watch import Watcher

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _play(
    endpoint: str | None, stop: threading.Event, seed: int, steps: int | None = None, label: str | None = None
) -> int:
    env = SF2Env(EnvConfig(publish_frames=endpoint, publish_fps=20, frame_skip=4, publish_label=label))
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n = 0
    while not stop.is_set() and (steps is None or n < steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        n += 1
        if terminated or truncated:
            env.reset()
        time.sleep(0.002)  # a training step's worth of pause, so the page sees a live pace
    env.close()
    return n


@pytest.fixture
def watcher() -> Iterator[Watcher]:
    w = Watcher("tcp://127.0.0.1:0", port=0).start()
    yield w
    w.stop()


def test_publishing_never_blocks_without_a_viewer() -> None:
    stop = threading.Event()
    start = time.perf_counter()
    # Nobody listens on this endpoint: frames are dropped, the env steps on at full speed.
    _play("tcp://127.0.0.1:9", stop, seed=0, steps=300)
    assert time.perf_counter() - start < 10


def test_watch_command_is_registered() -> None:
    args = build_parser().parse_args(["watch", "--port", "0", "--endpoint", "tcp://127.0.0.1:0"])
    assert args.port == 0 and args.endpoint == "tcp://127.0.0.1:0"


def test_frames_reach_the_page(watcher: Watcher) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=_play, args=(watcher.endpoint, stop, 1), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not watcher.snapshot() and time.monotonic() < deadline:
            time.sleep(0.05)
        (stream,) = watcher.snapshot()
        assert {"episode", "step", "health", "opponent"} <= set(stream) and stream["opponent"] == "cpu"
        with urllib.request.urlopen(f"{watcher.url}frame/{stream['id']}.jpg") as reply:
            assert reply.headers["Content-Type"] == "image/jpeg" and reply.read(2) == b"\xff\xd8"
    finally:
        stop.set()
        thread.join(10)


def _first_stream(watcher: Watcher, key: str) -> dict:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        streams = watcher.snapshot()
        if streams and key in streams[0]:
            return streams[0]
        time.sleep(0.1)
    raise AssertionError(f"no stream with {key!r}: {watcher.snapshot()}")


def test_a_tile_names_its_trials_mlflow_run_and_the_run_links_back_while_watched(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("watched")
    name = "trial_abc_00000_lr=0.001,frame_skip=4"
    run = client.create_run(exp, run_name=name, tags={TAG_KIND: "trial"})
    watcher = Watcher("tcp://127.0.0.1:0", port=0, tracking_uri=uri, mlflow_url="http://127.0.0.1:5999").start()
    stop = threading.Event()
    thread = threading.Thread(target=_play, args=(watcher.endpoint, stop, 2, None, name), daemon=True)
    thread.start()
    try:
        stream = _first_stream(watcher, "run")
        assert stream["label"] == name and stream["run"] == name
        assert stream["run_url"] == f"http://127.0.0.1:5999/#/experiments/{exp}/runs/{run.info.run_id}"
        assert client.get_run(run.info.run_id).data.tags[WATCH_TAG] == watcher.url
    finally:
        stop.set()
        thread.join(10)
        watcher.stop()
    assert WATCH_TAG not in client.get_run(run.info.run_id).data.tags, "the mosaic is gone: so is its link"


def test_labels_that_are_no_trial_id_and_stores_that_do_not_exist_give_no_links(tmp_path) -> None:
    missing = tmp_path / "none.db"
    watcher = Watcher("tcp://127.0.0.1:0", port=0, tracking_uri=f"sqlite:///{missing}")
    assert watcher.links is None and not missing.exists(), "looking must not create an empty store"
    watcher.stop()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).create_experiment("watched")
    watcher = Watcher("tcp://127.0.0.1:0", port=0, tracking_uri=uri).start()
    assert watcher.links is not None and watcher.links.link("x' or tags.a = 'b") is None
    stop = threading.Event()
    thread = threading.Thread(target=_play, args=(watcher.endpoint, stop, 3, None, "no_such_trial"), daemon=True)
    thread.start()
    try:
        stream = _first_stream(watcher, "label")
        assert stream["label"] == "no_such_trial" and "run" not in stream
    finally:
        stop.set()
        thread.join(10)
        watcher.stop()


@pytest.mark.e2e
@pytest.mark.skipif(
    not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)) and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver (make sysdeps); in CI it must run",
)
def test_headless_chromium_sees_the_mosaic_update(watcher: Watcher) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    stop = threading.Event()
    envs = [threading.Thread(target=_play, args=(watcher.endpoint, stop, s), daemon=True) for s in (2, 3)]
    for t in envs:
        t.start()
    profile = tempfile.mkdtemp(prefix="sf2rl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    for flag in [*flags, "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    script = (
        "return [...document.querySelectorAll('img.frame')].map(i => [+i.dataset.seq, i.complete && i.naturalWidth])"
    )
    try:
        driver.get(watcher.url)
        first = _wait(driver, script, lambda tiles: len(tiles) == 2 and all(w for _, w in tiles))
        assert all(width == 192 for _, width in first)  # the JPEGs decoded in the browser
        # Newer frames replaced the first ones, and they decoded too (an image may be mid-load at any instant).
        _wait(driver, script, lambda tiles: all(s > s0 + 3 and w for (s, w), (s0, _) in zip(tiles, first, strict=True)))
        assert driver.find_element("id", "count").text == "2"
    finally:
        driver.quit()
        stop.set()
        for t in envs:
            t.join(10)
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, script: str, done, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    tiles: list[list[int]] = []
    while time.monotonic() < deadline:
        tiles = driver.execute_script(script)
        if tiles and done(tiles):
            return tiles
        time.sleep(0.1)
    raise AssertionError(f"the page did not get there in {timeout} s; tiles: {tiles}")
