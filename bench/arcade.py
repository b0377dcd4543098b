"""What a person at the booth feels: frames drawn per second in the browser, and keypress-to-frame latency.

`sf2rl arcade`'s server and page, for real: a booth of you against the heuristic baseline on
loopback, Debian's headless Chromium driven by Selenium pressing and releasing keys four times
a second. The page times each keypress to the first frame drawn with that input in effect
(``window.arcade.latencies``) and counts frames drawn in the last second (``window.arcade.fps``,
sampled once a second). Run by ``sf2rl bench --only arcade``::

    python bench/arcade.py --out bench/results/2026-12-07-arcade.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

KEYS = ("\ue014", "\ue012", "a", "z")  # right arrow, left arrow, light punch, light kick


def _driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1200,1000",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='sf2rl-bench-chromium-')}"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))


def run(quick: bool = False, seconds: float | None = None) -> dict[str, Any]:
    """Play ``seconds`` (10 quick, 30 full) of human-vs-heuristic in headless Chromium; fps and latency figures."""
    from selenium.webdriver.common.action_chains import ActionChains

    from sf2rl.cli.arcade import build
    from sf2rl.cli.main import build_parser
    from sf2rl.play.arcade_server import ArcadeServer

    seconds = seconds or (10.0 if quick else 30.0)
    booth, pad = build(build_parser().parse_args(["arcade", "heuristic", "--port", "0"]))
    server = ArcadeServer(booth, pad, port=0).start()
    driver = _driver()
    try:
        driver.get(server.url)
        deadline = time.monotonic() + 30
        while not driver.execute_script("return window.arcade.drawn > 30") and time.monotonic() < deadline:
            time.sleep(0.1)
        sent0, t0 = server.frames_sent, time.perf_counter()
        fps: list[int] = []
        next_sample = time.monotonic() + 1.0
        i = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            key = KEYS[i % len(KEYS)]
            ActionChains(driver).key_down(key).pause(0.12).key_up(key).pause(0.13).perform()
            i += 1
            if time.monotonic() >= next_sample:
                fps.append(int(driver.execute_script("return window.arcade.fps")))
                next_sample += 1.0
        server_fps = (server.frames_sent - sent0) / (time.perf_counter() - t0)
        latencies = [float(v) for v in driver.execute_script("return window.arcade.latencies")]
    finally:
        driver.quit()
        server.stop()
    lat = sorted(latencies)
    return {
        "seconds": seconds,
        "keypresses": i,
        "browser_fps": {"median": statistics.median(fps), "min": min(fps), "max": max(fps), "samples": fps},
        "server_fps": round(server_fps, 2),
        "late_ticks": server.late_frames,
        "latency_ms": {
            "median": round(statistics.median(lat), 1),
            "p90": round(lat[int(0.9 * (len(lat) - 1))], 1),
            "max": round(lat[-1], 1),
            "n": len(lat),
        },
        "note": "loopback; Debian chromium headless via Selenium; human (keys) vs heuristic; nothing else running",
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    report = run(seconds=a.seconds)
    print(json.dumps(report, indent=1))
    if a.out:
        a.out.write_text(json.dumps(report, indent=1) + "\n")
