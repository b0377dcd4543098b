"""The team's dashboard, as a person meets it: `sf2rl ui` opens on the sweep's runs table, the parent
run carries parameter importance, report.html opens offline with no errors, and an `sf2rl watch`
mosaic looking on names the trials' runs."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from support import HAVE_CHROMIUM, artifact_dir, chromium

from sf2rl.cli.main import main as sf2rl_main
from sf2rl.core.tags import WATCH_TAG
from sf2rl.play.watch import Watcher

QUESTION = "Do the steps per iteration or the learning rate decide how many env steps a trial samples?"

NEEDS_CHROMIUM = pytest.mark.skipif(
    not HAVE_CHROMIUM and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver (make sysdeps); in CI it must run",
)


@pytest.fixture(scope="module")
def sweep(ray_session: Path, tmp_path_factory: pytest.TempPathFactory, tiny_sweep) -> dict[str, object]:
    """A finished 4-trial sweep over 2 keys (a 2x2 grid), tracked in an sqlite store.

    The effect is planted: the sweep's metric is the env steps sampled after 2 iterations, which the
    steps per iteration decide and the learning rate does not touch.
    """
    work = tmp_path_factory.mktemp("dashboard")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.search_experiments()  # the store exists before the sweep, as a team's does
    # An `sf2rl watch` mosaic looks on while the sweep runs: its tiles should name the trials' runs.
    watcher = Watcher("tcp://127.0.0.1:0", port=0, tracking_uri=uri, mlflow_url="http://127.0.0.1:5000").start()
    tiles: list[dict] = []
    done = threading.Event()

    def look() -> None:
        while not done.is_set():
            tiles.extend(watcher.snapshot())
            time.sleep(0.1)

    path = tiny_sweep(
        work, "dash", uri, description=QUESTION,
        env={"publish_frames": watcher.endpoint, "publish_fps": 60},
        space={"dqn.lr": {"grid": [0.001, 0.01]}, "dqn.steps_per_iteration": {"grid": [80, 160]}},
        search={"max_concurrent": 2, "metric": "env_steps_total"}, stop={"training_iteration": 2},
    )  # fmt: skip
    looker = threading.Thread(target=look, daemon=True)
    looker.start()
    try:
        with pytest.raises(SystemExit) as code:
            sf2rl_main(["sweep", str(path)])
    finally:
        done.set()
        looker.join(5)
        watcher.stop()
    assert code.value.code == 0
    exp = client.get_experiment_by_name("dash")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("sf2rl.kind") == "sweep")
    children = [r for r in runs if r.data.tags.get("sf2rl.kind") == "trial"]
    return {"uri": uri, "work": work, "client": client, "exp": exp, "parent": parent, "children": children,
            "tiles": tiles}  # fmt: skip


def test_the_experiment_opens_on_runs_and_the_parent_run_describes_the_sweep(sweep: dict) -> None:
    exp, parent = sweep["exp"], sweep["parent"]
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert parent.data.tags["mlflow.note.content"] == QUESTION
    assert parent.info.run_name.startswith("sweep dash-")
    assert len(sweep["children"]) == 4


def test_importance_on_the_parent_run_finds_the_planted_effect(sweep: dict) -> None:
    client, parent = sweep["client"], sweep["parent"]
    metrics = client.get_run(parent.info.run_id).data.metrics
    shares = {k.rsplit("/", 1)[1]: v for k, v in metrics.items() if k.startswith("importance/env_steps_total/")}
    assert set(shares) == {"dqn.lr", "dqn.steps_per_iteration"}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["dqn.steps_per_iteration"] > 0.75 > shares["dqn.lr"], shares
    # Refreshed as trials finished: any 3 trials of the 2x2 grid vary both keys, so it was first logged at 3.
    history = client.get_metric_history(parent.info.run_id, "importance/env_steps_total/dqn.steps_per_iteration")
    assert {m.step for m in history} >= {3, 4}
    files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"importance.json", "importance.png", "report"} <= files
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "report")} == {"report/report.html",
                                                                                      "report/report.json"}  # fmt: skip


def test_the_watch_mosaic_named_each_tile_s_trial_run_and_untagged_them_when_it_stopped(sweep: dict) -> None:
    children = {c.info.run_name: c for c in sweep["children"]}
    labelled = [t for t in sweep["tiles"] if t.get("label")]
    assert labelled, "the sweep's envs published frames to the mosaic"
    assert {t["label"] for t in labelled} <= set(children)
    linked = [t for t in labelled if "run" in t]
    assert linked, "some tile named its trial's MLflow run"
    for tile in linked:
        run = children[tile["label"]]
        assert tile["run"] == run.info.run_name and tile["run_url"].endswith(f"/runs/{run.info.run_id}")
    assert not any(WATCH_TAG in c.data.tags for c in sweep["children"]), "the stopped mosaic took its links away"


def test_curves_can_be_drawn_against_env_steps_and_wall_time(sweep: dict) -> None:
    client = sweep["client"]
    for child in sweep["children"]:
        steps = client.get_metric_history(child.info.run_id, "env_steps_total")
        seconds = client.get_metric_history(child.info.run_id, "time_total_s")
        assert [m.step for m in steps] == [m.step for m in seconds] == [1, 2]
        assert steps[-1].value > steps[0].value > 0 and seconds[-1].value > seconds[0].value > 0


def test_sf2rl_eval_with_a_run_id_adds_its_results_to_the_report(sweep: dict, tmp_path: Path, capsys) -> None:
    child = sweep["children"][0]
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["eval", "random", "--level", "1", "--matches", "4", "--workers", "1", "--run-id",
                    child.info.run_id, "--tracking-uri", sweep["uri"], "--json"])  # fmt: skip
    assert code.value.code == 0
    assert "added to the sweep's report.html" in capsys.readouterr().err
    client, parent = sweep["client"], sweep["parent"]
    folder = Path(client.download_artifacts(parent.info.run_id, "report", str(tmp_path)))
    (evaluation,) = json.loads((folder / "report.json").read_text())["evaluations"]
    assert evaluation["policy"] == "random" and evaluation["matches"] == 4 and evaluation["run"] == child.info.run_id
    assert "sf2rl eval: random" in (folder / "report.html").read_text()


EXPAND = """
const link = [...document.querySelectorAll('a')].find(a => a.innerText.trim() === arguments[0]);
link.closest('[role=row]').querySelector(arguments[1]).click();
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
@NEEDS_CHROMIUM
def test_sf2rl_ui_prints_the_link_and_chromium_shows_the_runs_table(sweep: dict, tmp_path: Path) -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "sf2rl", "ui", "--port", str(port), "--tracking-uri", sweep["uri"],
           "--experiment", "dash"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while "sweep dash:" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "sf2rl ui exited"
        url = re.search(r"(http://\S+)", line.split("sweep dash:")[1])
        exp_id = sweep["exp"].experiment_id
        assert (
            url and url.group(1) == f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs?workflowType=machine_learning"
        )
        names = {c.info.run_name for c in sweep["children"]}
        parent = sweep["parent"].info.run_name
        with chromium() as driver:
            deadline = time.monotonic() + 120
            text = ""
            while parent not in text and time.monotonic() < deadline:
                try:
                    driver.get(url.group(1))
                    time.sleep(3)
                    text = driver.find_element("tag name", "body").text
                except Exception:  # the server may still be starting
                    time.sleep(1)
            assert parent in text, f"the runs table does not show the sweep's run; the page says: {text[:600]!r}"
            assert "Traces\n0" not in text, "the experiment opened on the GenAI overview"
            # MLflow nests child runs under their parent, collapsed: open the sweep's row as a person would.
            expand = "[data-component-id*=runnamecellrenderer]"
            driver.execute_script(EXPAND, parent, expand)
            deadline = time.monotonic() + 30
            while not all(n in text for n in names) and time.monotonic() < deadline:
                time.sleep(1)
                text = driver.find_element("tag name", "body").text
            driver.save_screenshot(str(artifact_dir() / "mlflow-runs-table.png"))
            missing = sorted(n for n in names if n not in text)
            assert not missing, f"the runs table does not show {missing}; the page says: {text[:600]!r}"
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.e2e
@NEEDS_CHROMIUM
def test_report_html_opens_offline_without_console_errors(sweep: dict, tmp_path: Path) -> None:
    client, parent = sweep["client"], sweep["parent"]
    folder = Path(client.download_artifacts(parent.info.run_id, "report", str(tmp_path)))
    page = folder / "report.html"
    data = json.loads((folder / "report.json").read_text())
    assert data["description"] and len(data["trials"]) == 4 and data["importance"]["env_steps_total"]
    assert data["replay_gif"] and data["replay_gif"].startswith("data:image/gif;base64,")
    with chromium(log_network=True) as driver:
        driver.get(page.as_uri())
        deadline = time.monotonic() + 30
        loaded = "return document.readyState === 'complete' && [...document.images].every(i => i.complete)"
        while not driver.execute_script(loaded) and time.monotonic() < deadline:
            time.sleep(0.1)
        body = driver.find_element("tag name", "body").text
        driver.save_screenshot(str(artifact_dir() / "sweep-report.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        requests = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            # Only what the page asked for: Chromium's own new-tab page loads chrome:// resources too.
            if msg["method"] == "Network.requestWillBeSent" and msg["params"].get("documentURL") == page.as_uri():
                requests.append(msg["params"]["request"]["url"])
        images = driver.execute_script("return [...document.images].map(i => i.complete && i.naturalWidth > 0)")
    assert QUESTION in body
    assert "Parameter matrix" in body and "What mattered" in body and "The best trial plays" in body
    assert errors == []
    assert images and all(images), "every embedded image decodes"
    assert page.as_uri() in requests, "the network log saw the page itself load"
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert outside == [], f"the page fetched {outside}"
