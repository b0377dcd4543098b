"""The booth: a person's pad, agents at their reaction time, whole matches, the tally and the bracket,
then the real page in headless Chromium with keys pressed as a person presses them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import HAVE_CHROMIUM, artifact_dir, chromium, save_module

from sf2rl.agents.factory import load_policy
from sf2rl.cli.arcade import build, trained_config
from sf2rl.cli.main import build_parser
from sf2rl.cli.main import main as sf2rl_main
from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import ConfigError
from sf2rl.env.environment import SF2Env
from sf2rl.play.arcade import AgentSide, Booth, Bracket, HumanPad
from sf2rl.play.arcade_server import ArcadeServer

MINIMAL = EnvConfig(action_set="minimal", frame_skip=8)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_module(tmp_path_factory.mktemp("arcade") / "agent", MINIMAL)


def _env() -> SF2Env:
    env = SF2Env(EnvConfig(frame_skip=1, max_episode_steps=10**9))
    env.reset(seed=0)
    return env


def _agent(source: str | Path, env: SF2Env, reaction: int | None = None) -> AgentSide:
    policy = load_policy(str(source))
    return AgentSide(policy, env, trained_config(policy), reaction)


def _fight(booth: Booth, pad: HumanPad, frames: int) -> int:
    """Walk up to player 2 and jab at it, as a test's idea of a person; returns the frame the match ended."""
    for f in range(frames):
        s = booth.env.state
        close = abs(s.p1.x - s.p2.x) < 60
        pad.press((["hp"] if (f // 6) % 2 == 0 else []) if close else ["right"], f + 1)
        booth.tick()
        if booth.result is not None:
            return f
    raise AssertionError(f"no match ended in {frames} frames: {booth.view(booth.env.state)}")


def test_the_pad_moves_player_one_and_a_jab_deals_damage(checkpoint: Path) -> None:
    env = _env()
    pad = HumanPad(env)
    booth = Booth(env, pad, _agent(checkpoint, env), characters=("ryu", "ken"))
    x0 = env.state.p1.x
    pad.press(["right"], 1)
    for _ in range(30):
        booth.tick()
    assert env.state.p1.x > x0, "holding right did not move player 1"
    pad.press(["left"], 2)
    x1 = env.state.p1.x
    for _ in range(30):
        booth.tick()
    assert env.state.p1.x < x1
    pad.press(["no-such-button", 3], 3)  # type: ignore[list-item]  # what a hostile page might send
    assert pad.mask(env.state, 0) == 0 and pad.seq == 3
    end = _fight(booth, pad, 60 * 200)
    view = booth.view(env.state)
    assert booth.result is not None and booth.result["winner"] in ("you", booth.names[1])
    assert view["matches"] == 1 and sum(view["tally"].values()) == 1
    assert booth.frame is not None and booth.frame.shape == (224, 256, 3)
    print("match ended at frame", end, booth.result)


def test_an_agent_decides_once_per_reaction_time() -> None:
    env = _env()
    agent = _agent("heuristic", env, reaction=20)
    calls = 0
    act = agent.policy.act

    def counted(*a, **k):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return act(*a, **k)

    agent.policy.act = counted  # type: ignore[method-assign]
    booth = Booth(env, HumanPad(env), agent, characters=("ryu", "ken"))
    for _ in range(200):
        booth.tick()
    assert calls == 10  # 200 frames / 20


def test_a_strong_agent_beats_a_motionless_one_and_the_tally_says_so() -> None:
    env = _env()
    booth = Booth(env, _agent("cpu-8", env), _agent("noop", env), characters=("ryu", "ken"))
    while booth.result is None:
        booth.tick()
    assert booth.result["winner"] == "cpu-8" and booth.tally.wins == {"cpu-8": 1, "noop": 0}


def test_a_bracket_of_four_plays_semis_then_a_final_and_starts_over() -> None:
    env = _env()
    strong = [_agent("cpu-8", env), _agent("noop", env), _agent("cpu-6", env), _agent("noop", env)]
    booth = Booth(env, strong[0], strong[1], characters=("ryu", "ken"), bracket=strong)
    champions = []
    while booth.tally.matches < 3:
        booth.tick()
        if booth.result is not None and booth.result.get("champion"):
            champions.append(booth.result["champion"])
            break
    assert booth.bracket is not None
    played = booth.bracket.played
    assert [(a, b) for a, b, _ in played[:2]] == [("cpu-8", "noop"), ("cpu-6", "noop")]
    assert played[0][2] == "cpu-8" and played[1][2] == "cpu-6"
    assert {played[2][0], played[2][1]} == {"cpu-8", "cpu-6"}  # the final is the semis' winners
    assert champions == [played[2][2]]
    while booth.result is not None:
        booth.tick()
    assert booth.names == ("cpu-8", "noop")  # the next bracket starts with the first semi again
    with pytest.raises(ValueError, match="two"):
        Bracket([strong[0]])


def _args(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["arcade", *argv])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--character", "goku"], "unknown character 'goku'"),
        (["--opponent-character", "x"], "unknown character 'x'"),
        (["--level", "9"], "--level must be 1-8"),
        (["/no/such/checkpoint"], "no checkpoint at /no/such/checkpoint"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as e:
        sf2rl_main(["arcade", *argv])
    assert e.value.code == 2
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert message in err and "Traceback" not in err


def test_a_port_in_use_is_one_line_and_exit_2(capsys) -> None:  # type: ignore[no-untyped-def]
    booth, pad = build(_args())
    first = ArcadeServer(booth, pad, port=0).start()
    try:
        with pytest.raises(SystemExit) as e:
            sf2rl_main(["arcade", "--port", str(first.port)])
        assert e.value.code == 2
        captured = capsys.readouterr()
        assert f"cannot listen on 127.0.0.1:{first.port}" in captured.out + captured.err
    finally:
        first.stop()
    with pytest.raises(ConfigError, match="cannot listen"):
        ArcadeServer(booth, pad, port=first.port, host="192.0.2.1").start()  # an address this machine lacks


@pytest.fixture
def served(checkpoint: Path) -> Iterator[ArcadeServer]:
    import torch

    booth, pad = build(_args(str(checkpoint), "--port", "0"))
    agent = booth.sides[1]
    assert isinstance(agent, AgentSide)
    # The checkpoint loads through the real path; its weights are then zeroed, so every Q-value ties
    # and it stands still (action 0). An untrained network's luck once beat the test's jabs unhurt.
    with torch.no_grad():
        for weight in agent.policy.module.parameters():  # type: ignore[attr-defined]
            weight.zero_()
    server = ArcadeServer(booth, pad, port=0).start()
    try:
        yield server
    finally:
        server.stop()


def _wait(driver, script: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{script!r} stayed falsy for {timeout} s; browser log: {driver.get_log('browser')}")


@pytest.mark.e2e
@pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs Debian's chromium and chromium-driver (make sysdeps)")
def test_a_person_plays_a_whole_match_in_the_browser_against_a_checkpoint(served: ArcadeServer) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    with chromium() as driver:
        driver.get(served.url)
        _wait(driver, "return window.arcade.drawn > 10")
        assert "punch" in driver.find_element("id", "keys").text  # the key bindings are on the page
        x0 = _wait(driver, "return window.arcade.view && window.arcade.view.x[0]")
        keys = ActionChains(driver)
        keys.key_down(Keys.ARROW_RIGHT).perform()
        _wait(driver, f"return window.arcade.view.x[0] > {x0} + 10")  # the person's character moved
        # Up close, jab until the match ends; an untrained agent barely fights back.
        deadline = time.monotonic() + 240
        hurt = False
        while time.monotonic() < deadline:
            view = driver.execute_script("return window.arcade.view")
            if view["matches"] >= 1:
                break
            hurt = hurt or view["health"][1] < view["max_health"]
            close = abs(view["x"][0] - view["x"][1]) < 60
            chain = ActionChains(driver)
            if close:
                chain.key_up(Keys.ARROW_RIGHT).key_down("d").pause(0.05).key_up("d").pause(0.05)
            else:
                chain.key_down(Keys.ARROW_RIGHT).pause(0.1)
            chain.perform()
        ActionChains(driver).key_up(Keys.ARROW_RIGHT).perform()
        view = driver.execute_script("return window.arcade.view")
        assert hurt, f"the person never damaged the agent: {view}"
        assert view["matches"] == 1 and sum(view["tally"].values()) == 1, view
        assert driver.find_element("id", "tally").text.startswith("tally you ")
        stats = driver.execute_script("return {fps: window.arcade.fps, latencies: window.arcade.latencies}")
        assert stats["latencies"], "no keypress was timed to a frame"
        driver.save_screenshot(str(artifact_dir() / "arcade.png"))
        (artifact_dir() / "arcade.json").write_text(json.dumps(stats))
