"""The BizHawk bridge for real, except BizHawk: bridge.lua runs in lupa's Lua 5.4 against the EmuHawk stand-in.

Path under test: ZeroMQ host (or the Executor) -> BizHawkBackend -> TCP with BizHawk's
"<length> <payload>" framing -> bridge.lua in a real Lua VM -> stand-in Lua API -> simulator.
Every episode is compared byte for byte with the same inputs on an in-process SF2Sim.
"""

from __future__ import annotations

import io
import re
import socket
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import require

from emulator_worker import protocol as p
from emulator_worker.backends import BackendUnavailable, ResetOptions
from emulator_worker.backends.bizhawk import BizHawkBackend
from emulator_worker.bizhawk import (
    BRIDGE_COMMANDS,
    BRIDGE_ONLY_COMMANDS,
    BRIDGE_VERSION,
    SNES_PAD,
    BridgeError,
    FramedConnection,
    FramingError,
    bridge_script,
    command,
    encode_frame,
    parse_reply,
)
from emulator_worker.bizhawk.standin import EmuHawkStandIn, SimRom
from emulator_worker.instances import Executor
from emulator_worker.sim import BUTTONS, RAM_SIZE
from sf2rl.core.game.spec import Decoder
from sf2rl.core.game.specs import SIM
from sf2rl.transport.client import EmulatorClient

require("lupa")  # a skip here, a failure under CI=true

STANDIN = [sys.executable, "-m", "emulator_worker.bizhawk.standin"]
DECODER = Decoder(SIM)
WHOLE_RAM = ((0, RAM_SIZE),)


def _watched(ram: np.ndarray, ranges: tuple[tuple[int, int], ...] = DECODER.ranges) -> bytes:
    return b"".join(ram[a : a + n].tobytes() for a, n in ranges)


@pytest.fixture
def make_backend(tmp_path: Path) -> Iterator[Callable[..., BizHawkBackend]]:
    """Factory: a BizHawkBackend whose "EmuHawk" is the stand-in process; all closed at teardown."""
    made: list[BizHawkBackend] = []

    def make(rom: SimRom | None = None, **options: Any) -> BizHawkBackend:
        rom = rom or SimRom(seed=5)
        path = rom.write(tmp_path / f"rom{len(made)}.json")
        backend = BizHawkBackend(rom=str(path), mode="command", command=STANDIN, **options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


# ------------------------------------------------------------------ contract


def test_bridge_command_names_come_from_the_protocol() -> None:
    lua = bridge_script().read_text()

    def table(name: str) -> dict[str, str]:
        body = re.search(rf"local {name} = \{{(.*?)\n\}}", lua, re.S)
        assert body, f"bridge.lua has no {name} table"
        return dict(re.findall(r'(\w+) = "(\w+)"', body.group(1)))

    commands = table("COMMAND")
    assert commands == {k: v.value for k, v in BRIDGE_COMMANDS.items()}
    assert all(p.Command[k].value == v for k, v in commands.items())
    assert set(commands.values()) == {c.value for c in p.SLOT_COMMANDS} | {p.Command.HELLO.value}
    only = table("BRIDGE_COMMAND")
    assert only == BRIDGE_ONLY_COMMANDS and not set(only.values()) & {c.value for c in p.Command}
    handled = set(re.findall(r"handlers\[(COMMAND|BRIDGE_COMMAND)\.(\w+)\]", lua))
    assert handled == {("COMMAND", k) for k in commands} | {("BRIDGE_COMMAND", k) for k in only}
    assert f"local BRIDGE_VERSION = {BRIDGE_VERSION}\n" in lua
    assert f"local MAX_FRAMES = {p.MAX_FRAMES_PER_STEP} " in lua


def test_snes_pad_matches_the_simulators_masks() -> None:
    assert SNES_PAD == BUTTONS


# ------------------------------------------------------------------ framing


def test_encode_frame_counts_utf8_bytes_and_tokens_survive() -> None:
    assert encode_frame("step 1 0 4") == b"10 step 1 0 4"
    assert encode_frame("é€") == b"5 \xc3\xa9\xe2\x82\xac"
    payload = command("reset", "C:\\Users\\Ana María\\sf2 round%2.State", 7)
    assert " " not in payload.split(" ", 1)[1].replace(" 7", "")
    assert parse_reply("ok " + payload.split(" ", 1)[1]) == ["C:\\Users\\Ana María\\sf2 round%2.State", "7"]
    assert parse_reply("ok") == []
    with pytest.raises(BridgeError, match="boom"):
        parse_reply("err boom")
    with pytest.raises(FramingError):
        parse_reply("hello")


def test_framed_connection_reassembles_any_split() -> None:
    a, b = socket.socketpair()
    messages = ["", "a", "x" * 9, "y" * 10, "z" * 123_456, "ステップ é", "ok " + "ab" * 40_000]
    stream = b"".join(encode_frame(m) for m in messages)

    def writer() -> None:
        rng = np.random.default_rng(0)
        pos = 0
        while pos < len(stream):
            n = int(rng.choice([1, 2, 3, 7, 1000, 70_000]))
            a.sendall(stream[pos : pos + n])
            pos += n
            if n < 10:
                time.sleep(0.001)

    t = threading.Thread(target=writer)
    t.start()
    conn = FramedConnection(b)
    assert [conn.receive(timeout=10) for _ in messages] == messages
    t.join()
    a.close()
    conn.close()


@pytest.mark.parametrize(
    ("raw", "error"),
    [(b"abc 1", FramingError), (b"12a 4", FramingError), (b" 5 hello", FramingError),
     (b"99999999999 x", FramingError), (b"10 short", ConnectionError)],
)  # fmt: skip
def test_framed_connection_refuses_broken_streams(raw: bytes, error: type[Exception]) -> None:
    a, b = socket.socketpair()
    a.sendall(raw)
    a.close()
    with pytest.raises(error):
        FramedConnection(b).receive(timeout=5)
    b.close()


def test_framed_connection_times_out() -> None:
    a, b = socket.socketpair()
    a.sendall(b"5 ab")
    with pytest.raises(TimeoutError):
        FramedConnection(b).receive(timeout=0.1)
    a.close()
    b.close()


# ------------------------------------------------------------------ bridge.lua in the stand-in


class BridgeSession:
    """This test plays the worker; bridge.lua runs in an in-process stand-in on a thread."""

    def __init__(self, tmp_path: Path, rom: SimRom) -> None:
        listener = socket.create_server(("127.0.0.1", 0))
        self.standin = EmuHawkStandIn(rom, "127.0.0.1", listener.getsockname()[1])
        sock, _ = listener.accept()
        listener.close()
        self.raw = sock
        self.conn = FramedConnection(sock)
        self.tmp = tmp_path
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.exit_code = self.standin.run(bridge_script())

    def ask(self, payload: str) -> str:
        self.conn.send(payload)
        return self.conn.receive(timeout=10)

    def hello(self, *, domain: str = "WRAM", ranges: str = "*", buttons: str = ",".join(SNES_PAD),
              boot: str = "core", version: int = BRIDGE_VERSION) -> str:  # fmt: skip
        return self.ask(command("hello", version, domain, ranges, buttons, boot, self.tmp))


@pytest.fixture
def session(tmp_path: Path) -> Iterator[BridgeSession]:
    s = BridgeSession(tmp_path, SimRom(seed=11))
    yield s
    if s.thread.is_alive():
        s.conn.send("quit")
        s.thread.join(5)
    s.conn.close()


def test_standin_reads_like_bizhawks_receive_string(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    standin = EmuHawkStandIn(SimRom(), "127.0.0.1", listener.getsockname()[1])
    peer, _ = listener.accept()
    listener.close()

    def send_slowly(*parts: bytes) -> None:
        for part in parts:
            peer.sendall(part)
            time.sleep(0.005)

    t = threading.Thread(
        target=send_slowly, args=(b"1", b"2", b" hel", b"lo wor", b"ld!", b"5 \xc3\xa9", b"\xe2\x82\xac")
    )
    t.start()
    assert standin._receive_string() == b"hello world!"  # a two-digit length, split everywhere
    assert standin._receive_string() == "é€".encode()  # length in bytes, not characters
    t.join()
    peer.sendall(b"x1 abc")
    assert standin._receive_string() == b""  # BizHawk's int.Parse fails: "" (and the stream is lost)
    assert standin._send_string("ok é".encode()) == 7
    assert FramedConnection(peer).receive(timeout=5) == "ok é"
    peer.close()
    assert standin._receive_string() == b"" and not standin.connected
    standin.close()


def test_malformed_messages_get_error_replies_and_the_bridge_goes_on(session: BridgeSession, tmp_path: Path) -> None:
    assert session.ask("step 0 0 1") == "err send hello first"
    assert session.ask("bogus 1 2") == 'err unknown command "bogus"'
    assert session.ask("ステップ 1") == 'err unknown command "ステップ"'
    assert session.ask("   ") == 'err unknown command "nil"'
    assert "version" in session.hello(version=BRIDGE_VERSION + 1)
    assert session.ask("hello 1 WRAM") == "err hello takes: version domain ranges buttons boot tmpdir"
    assert "memory domain VRAM does not exist" in session.hello(domain="VRAM")
    assert "range length" in session.hello(ranges="0:99999")
    assert "addr:len" in session.hello(ranges="nonsense")
    assert "boot must be" in session.hello(boot="warm")
    assert session.hello() == f"ok {BRIDGE_VERSION} SNES {RAM_SIZE} 0"
    for bad, why in [
        ("step", "p1 mask must be an integer"),
        ("step a b c", "p1 mask must be an integer"),
        ("step 0 0 -1", "frames must be an integer in [0, 36000]"),
        ("step 0 0 36001", "frames must be"),
        ("step 4096 0 1", "p1 mask must be an integer in [0, 4095]"),
        ("step 0 1.5 1", "p2 mask"),
        ("reset /no/such/file.State", "savestate file not found"),
        ("load_state zz", "not hex-encoded"),
        ("load_state abc", "not hex-encoded"),
        ("load_state", "one hex argument"),
        ("load_state " + b"not a zip".hex(), "could not be loaded"),
    ]:
        reply = session.ask(bad)
        assert reply.startswith("err ") and why in reply, (bad, reply)
    # None of that touched the game: 10 frames from boot equal the simulator's.
    assert session.ask("step 0 0 10") == "ok 10"
    ref = SimRom(seed=11).boot()
    ref.step(0, 0, 10)
    assert bytes.fromhex(parse_reply(session.ask("ram"))[0]) == ref.ram().tobytes()
    # A savestate file whose path has spaces and UTF-8 travels percent-encoded.
    state = bytes.fromhex(parse_reply(session.ask("save_state"))[0])
    named = tmp_path / "round 2 – é.State"
    named.write_bytes(state)
    session.ask("step 255 0 30")
    assert session.ask(command("reset", named)) == "ok 10"
    assert bytes.fromhex(parse_reply(session.ask("ram"))[0]) == ref.ram().tobytes()
    assert session.ask("reset") == "ok 0"
    assert session.ask("quit") == "ok"
    session.thread.join(5)
    assert session.exit_code == 0 and session.standin.exited
    assert session.standin.settings == {"speed": 6399, "limitframerate": False, "sound": False}


# ------------------------------------------------------------------ the backend


def test_full_episode_through_the_executor_matches_the_simulator_byte_for_byte(make_backend) -> None:  # type: ignore[no-untyped-def]
    rom = SimRom(seed=7, characters=(2, 3), difficulty=5)
    executor = Executor(make_backend(rom))
    assert executor.backend.buttons == SNES_PAD
    ref = rom.boot()
    rng = np.random.default_rng(7)

    def run(req: p.Request) -> p.Reply:
        reply = p.decode_reply(executor.handle(p.encode_request(req)))
        assert isinstance(reply, p.Reply), reply
        return reply

    first = run(p.Reset(id=1, ram_ranges=WHOLE_RAM))
    assert first.ram == ref.ram().tobytes()
    steps = 0
    while True:
        mask, hold = int(rng.integers(0, 1 << 12)), int(rng.integers(1, 5))
        reply = run(p.Step(id=steps + 2, segments=(p.Segment(mask, 0, hold), p.Segment(0, 0, 1)), ram_ranges=WHOLE_RAM))
        ref.step(mask, 0, hold)
        ref.step(0, 0, 1)
        steps += 1
        assert reply.ram == ref.ram().tobytes(), f"RAM differs after step {steps}"
        if DECODER.decode(_watched(ref.ram())).round_over or steps >= 3000:
            break
    assert DECODER.decode(_watched(ref.ram())).round_over, "the episode should end with the round"
    assert steps > 100 and reply.fields["frames_run"] == executor.frames_run


def test_two_controller_mode_drives_player_two(make_backend) -> None:  # type: ignore[no-untyped-def]
    rom = SimRom(seed=3, two_player=True)
    backend = make_backend(rom)
    backend.reset(ResetOptions())
    ref = rom.boot()
    rng = np.random.default_rng(3)
    for _ in range(150):
        m1, m2 = (int(x) for x in rng.integers(0, 1 << 12, 2))
        backend.step(m1, m2, 3)
        ref.step(m1, m2, 3)
        assert np.array_equal(backend.ram(), ref.ram())
    with pytest.raises(ValueError, match="p2 mask 4096 outside"):
        backend.step(0, 4096, 1)


def test_episode_over_zeromq_through_emulator_worker_serve(spawn_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rom = SimRom(seed=9, characters=(0, 5), difficulty=8)
    pool = spawn_host(
        "bizhawk", rom=str(rom.write(tmp_path / "rom.json")), mode="command", command=STANDIN,
        ram_ranges=[list(r) for r in DECODER.ranges],
    )  # fmt: skip
    ref = rom.boot()
    rng = np.random.default_rng(9)
    with EmulatorClient(pool.endpoints[0], timeout_ms=20000) as client:
        info = client.hello()
        assert info.backend == "bizhawk" and info.buttons == tuple(SNES_PAD)
        client.lease(1, ttl=30)
        obs = client.reset(0, ram_ranges=DECODER.ranges)
        assert obs.ram == _watched(ref.ram())
        for _ in range(400):
            mask = int(rng.integers(0, 1 << 12))
            obs = client.step(0, (p.Segment(mask, 0, 3), p.Segment(0, 0, 1)), ram_ranges=DECODER.ranges)
            ref.step(mask, 0, 3)
            ref.step(0, 0, 1)
            assert obs.ram == _watched(ref.ram())
        assert np.array_equal(client.frame(0), ref.frame())
        state = client.save_state(0)
        assert state.startswith(b"PK\x03\x04")
        after = [client.step(0, (p.Segment(1 << 6, 0, 5),), ram_ranges=DECODER.ranges).ram for _ in range(30)]
        client.load_state(0, state)
        again = [client.step(0, (p.Segment(1 << 6, 0, 5),), ram_ranges=DECODER.ranges).ram for _ in range(30)]
        assert again == after
    assert DECODER.decode(obs.ram).p1.health < 176 or DECODER.decode(obs.ram).p2.health < 176


def test_sf2env_runs_on_the_bizhawk_backend(tmp_path: Path) -> None:
    from gymnasium.utils.env_checker import check_env

    from sf2rl.env.environment import SF2Env

    rom = SimRom(seed=4).write(tmp_path / "rom.json")
    options = {"rom": str(rom), "mode": "command", "command": STANDIN, "ram_ranges": [list(r) for r in DECODER.ranges]}
    env = SF2Env(game="sim", backend="bizhawk", backend_options=options, action_set="specials")
    try:
        check_env(env, skip_render_check=True)
        env.reset(seed=0)
        for _ in range(50):
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            assert env.observation_space.contains(obs)
            if terminated or truncated:
                break
    finally:
        env.close()


def test_savestates_by_name_and_file_boot(make_backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    states = tmp_path / "states"
    states.mkdir()
    backend = make_backend(savestate_dir=str(states), core_state_on_reset=False)
    backend.reset(ResetOptions())
    boot = backend.ram()
    backend.step(1 << 3, 0, 120)
    (states / "jump in é.State").write_bytes(backend.save_state())
    saved = backend.ram()
    backend.step(1 << 6, 0, 60)
    backend.reset(ResetOptions(state="jump in é.State"))
    assert np.array_equal(backend.ram(), saved)
    backend.reset(ResetOptions())
    assert np.array_equal(backend.ram(), boot)
    with pytest.raises(ValueError, match="inside"):
        backend.reset(ResetOptions(state="../rom0.json"))
    with pytest.raises(ValueError, match=r"no savestate 'nope'.*jump in é\.State"):
        backend.reset(ResetOptions(state="nope"))


def test_bad_savestate_bytes_leave_the_game_unchanged(make_backend) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend()
    backend.reset(ResetOptions())
    backend.step(1 << 8, 0, 40)
    before, good = backend.ram(), backend.save_state()
    with pytest.raises(ValueError, match="zip archive"):
        backend.load_state(b"garbage")
    no_core = io.BytesIO()
    with zipfile.ZipFile(no_core, "w") as z:
        z.writestr("BizState 1.0", "x")
    for bad in (no_core.getvalue(), good[:-20]):
        with pytest.raises(ValueError, match="rejected"):
            backend.load_state(bad)
        assert np.array_equal(backend.ram(), before)
    backend.step(1 << 9, 0, 30)
    after_failures = backend.ram()
    backend.load_state(good)
    backend.step(1 << 9, 0, 30)
    assert np.array_equal(backend.ram(), after_failures)


def test_a_dead_emuhawk_is_reported_and_relaunched_on_reset(make_backend) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend()
    backend.reset(ResetOptions())
    boot = backend.ram()
    assert backend._proc is not None
    backend._proc.kill()
    backend._proc.wait()
    with pytest.raises(RuntimeError, match="lost the BizHawk bridge"):
        backend.step(0, 0, 1)
    with pytest.raises(RuntimeError, match="reset to relaunch"):
        backend.step(0, 0, 1)
    backend.reset(ResetOptions())
    assert np.array_equal(backend.ram(), boot)


def test_launch_failures_are_clear(tmp_path: Path) -> None:
    rom = SimRom().write(tmp_path / "rom.json")
    crash = [sys.executable, "-c", "import sys; print('no EmuHawk here'); sys.exit(3)"]
    with pytest.raises(BackendUnavailable, match=r"(?s)exited with code 3.*no EmuHawk here"):
        BizHawkBackend(rom=str(rom), mode="command", command=crash)
    t0 = time.monotonic()
    silent = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(BackendUnavailable, match=r"did not connect .* within 1 s"):
        BizHawkBackend(rom=str(rom), mode="command", command=silent, launch_timeout=1)
    assert time.monotonic() - t0 < 10
    with pytest.raises(BackendUnavailable, match="ROM"):
        BizHawkBackend(rom=str(tmp_path / "missing.sfc"), mode="command", command=STANDIN)
    with pytest.raises(BackendUnavailable, match="memory domain VRAM does not exist"):
        BizHawkBackend(rom=str(rom), mode="command", command=STANDIN, domain="VRAM")


def test_frames_are_the_emulators_screen(make_backend) -> None:  # type: ignore[no-untyped-def]
    rom = SimRom(seed=2)
    backend = make_backend(rom)
    backend.reset(ResetOptions())
    backend.step(1 << 3, 0, 90)
    ref = rom.boot()
    ref.step(1 << 3, 0, 90)
    frame = backend.frame()
    assert frame.shape == (224, 256, 3) and np.array_equal(frame, ref.frame())
