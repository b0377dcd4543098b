"""Backend adapter for BizHawk: EmuHawk runs bridge.lua and is driven over its own TCP socket client.

The backend listens on 127.0.0.1 first, because EmuHawk is the TCP client, then
launches EmuHawk (see :mod:`emulator_worker.bizhawk.launcher`) and accepts its
connection. Every command is one framed request and one framed reply (see
:mod:`emulator_worker.bizhawk`). RAM comes from one memory domain ("WRAM" for
the SNES); only the ``ram_ranges`` the bridge watches are transferred, because
hex-encoding the whole 128 KiB WRAM every step would cost more than emulating.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from emulator_worker.backends.base import BackendUnavailable, ResetOptions, check_step, resolve_state_path
from emulator_worker.bizhawk import (
    BRIDGE_VERSION,
    SNES_PAD,
    BridgeError,
    FramedConnection,
    bridge_script,
    parse_reply,
)
from emulator_worker.bizhawk import command as bridge_command
from emulator_worker.bizhawk.launcher import LaunchPlan, build_launch

# EmuHawk frames per second is unknown (core, host); this only bounds how long a step may take.
SECONDS_PER_FRAME_BOUND = 0.01
ZIP_MAGIC = b"PK\x03\x04"  # BizHawk's binary savestates are zip archives
TMP_PREFIX = "sf2rl-bizhawk-"


def _sweep_stale_folders() -> None:
    """Remove temp folders of instances that died without close() (a host SIGTERMs them with os._exit)."""
    if os.name != "posix":
        return  # os.kill(pid, 0) is a liveness probe only on POSIX
    for folder in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*-*"):
        pid = folder.name[len(TMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


class BizHawkBackend:
    """One EmuHawk process running the sf2rl Lua bridge."""

    name = "bizhawk"

    def __init__(
        self,
        rom: str,
        bizhawk_dir: str = "",
        mode: str | None = None,
        savestate_dir: str | None = None,
        core_state_on_reset: bool = True,
        launch_timeout: float = 60.0,
        port: int = 0,
        extra_args: list[str] | None = None,
        xvfb: bool | None = None,
        command: list[str] | None = None,
        domain: str = "WRAM",
        ram_ranges: list[list[int]] | None = None,
        buttons: list[str] | None = None,
        state: str | None = None,
        io_timeout: float = 30.0,
    ) -> None:
        """Launch EmuHawk and handshake with the bridge.

        ``mode``: "windows", "wine", "mono" (default: by platform and what ``bizhawk_dir`` holds) or
        "command" (run ``command`` + EmuHawk's flags instead, e.g. the stand-in).
        ``savestate_dir``: folder of savestates that ``reset(state=NAME)`` may load.
        ``core_state_on_reset``: a plain reset reloads the power-on state from memory
        (``memorysavestate``); false reloads it from a savestate file instead.
        ``ram_ranges``: [[offset, length], ...] of ``domain`` to transfer after each step; default
        the whole domain. Bytes outside these ranges read as 0 in :meth:`ram`.
        ``buttons``: controller button names, bit i of a mask = buttons[i]; default the SNES pad.
        ``state``: savestate name used when a reset names none.
        """
        self.buttons: tuple[str, ...] = tuple(buttons or SNES_PAD)
        if not 0 < len(self.buttons) <= 32 or any("," in b or not b for b in self.buttons):
            raise ValueError("buttons must be 1 to 32 non-empty names without commas")
        self.rom = rom
        self.bizhawk_dir = bizhawk_dir
        self.mode = mode
        self.savestate_dir = Path(savestate_dir).expanduser() if savestate_dir else None
        self.boot = "core" if core_state_on_reset else "file"
        self.launch_timeout = float(launch_timeout)
        self.port = int(port)
        self.extra_args = list(extra_args or [])
        self.xvfb = xvfb
        self.command = list(command) if command else None
        self.domain = domain
        self.ranges = [(int(a), int(n)) for a, n in ram_ranges] if ram_ranges else None
        if self.ranges and any(a < 0 or n <= 0 for a, n in self.ranges):
            raise ValueError(f"ram_ranges must be [offset >= 0, length > 0] pairs, got {ram_ranges}")
        self.default_state = state or ""
        self.io_timeout = float(io_timeout)
        self.system = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: FramedConnection | None = None
        self._tmp: Path | None = None
        self._plan: LaunchPlan | None = None
        self._dead: str | None = None
        self._ram = np.zeros(0, np.uint8)
        self._ram_fresh = False
        self._launch()

    # ------------------------------------------------------------ process

    def _launch(self) -> None:
        """Listen, start EmuHawk, accept its connection and say hello."""
        self._dead = None
        _sweep_stale_folders()
        self._tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-"))
        listener = socket.create_server(("127.0.0.1", self.port), backlog=1)
        try:
            port = listener.getsockname()[1]
            plan = build_launch(
                self.mode, self.bizhawk_dir, self.rom, bridge_script(), port,
                extra_args=self.extra_args, xvfb=self.xvfb, command=self.command,
            )  # fmt: skip
            self._plan = plan
            log = open(self._tmp / "emuhawk.log", "wb")  # the child keeps its own descriptor
            kwargs: dict[str, Any] = {}
            if sys.platform == "linux" and threading.current_thread() is threading.main_thread():
                from emulator_worker.instances import set_parent_death_signal

                # EmuHawk must not outlive this instance, even if it is SIGKILLed. Only from the main
                # thread: the signal fires when the spawning *thread* exits, not the process.
                kwargs["preexec_fn"] = set_parent_death_signal
            if os.name == "posix":
                kwargs["start_new_session"] = True  # so close() can end xvfb-run, Xvfb and EmuHawk together
            try:
                self._proc = subprocess.Popen(
                    plan.argv, cwd=plan.cwd, env={**os.environ, **plan.env},
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **kwargs,
                )  # fmt: skip
            except OSError as e:
                raise BackendUnavailable(f"cannot start {plan.argv[0]}: {e}") from e
            finally:
                log.close()
            self._conn = FramedConnection(self._accept(listener))
            self._hello()
        except BaseException:
            if self._conn is not None:  # a failed handshake: no point asking the bridge to quit
                self._conn.close()
                self._conn = None
            self._stop_process(timeout=0.5)
            self.close()
            raise
        finally:
            listener.close()

    def _accept(self, listener: socket.socket) -> socket.socket:
        deadline = time.monotonic() + self.launch_timeout
        listener.settimeout(0.2)
        while True:
            try:
                conn, _ = listener.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return conn
            except TimeoutError:
                pass
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise BackendUnavailable(f"EmuHawk exited with code {code} before connecting. {self._log_tail()}")
            if time.monotonic() > deadline:
                raise BackendUnavailable(
                    f"EmuHawk did not connect to 127.0.0.1:{listener.getsockname()[1]} within "
                    f"{self.launch_timeout:.0f} s (launch_timeout). {self._log_tail()}"
                )

    def _hello(self) -> None:
        assert self._plan is not None and self._tmp is not None
        ranges = ",".join(f"{a}:{n}" for a, n in self.ranges) if self.ranges else "*"
        try:
            values = self._call(
                bridge_command("hello", BRIDGE_VERSION, self.domain, ranges, ",".join(self.buttons), self.boot,
                               self._plan.path_for(self._tmp)),
                timeout=self.launch_timeout,
            )  # fmt: skip
        except BridgeError as e:
            raise BackendUnavailable(f"the BizHawk bridge refused the handshake: {e}") from e
        version, system, size = int(values[0]), values[1], int(values[2])
        if version != BRIDGE_VERSION:
            raise BackendUnavailable(f"bridge.lua speaks version {version}, the worker {BRIDGE_VERSION}")
        self.system = system
        self._ram = np.zeros(size, np.uint8)
        self.ranges = self.ranges or [(0, size)]
        self._ram_fresh = False

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            text = (self._tmp / "emuhawk.log").read_bytes()[-limit:].decode("utf-8", "replace")  # type: ignore[operator]
        except OSError:
            return ""
        return f"Its output ends with:\n{text}" if text.strip() else "It printed nothing."

    def _stop_process(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)):
                try:
                    if os.name == "posix":
                        os.killpg(proc.pid, sig)
                    else:
                        proc.send_signal(sig)
                except (ProcessLookupError, PermissionError):
                    break
                try:
                    proc.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue

    # ------------------------------------------------------------ requests

    def _call(self, payload: str, timeout: float | None = None) -> list[str]:
        """One request, one reply; a broken connection marks the backend dead until the next reset."""
        if self._dead or self._conn is None:
            raise RuntimeError(f"EmuHawk is gone ({self._dead or 'closed'}); reset to relaunch it")
        try:
            self._conn.send(payload)
            return parse_reply(self._conn.receive(self.io_timeout if timeout is None else timeout))
        except BridgeError:
            raise
        except (OSError, ConnectionError) as e:  # includes TimeoutError and FramingError
            code = self._proc.poll() if self._proc else None
            self._dead = f"{type(e).__name__}: {e}; EmuHawk exit code {code}"
            self._conn.close()
            self._conn = None
            self._stop_process(timeout=1.0)
            raise RuntimeError(f"lost the BizHawk bridge: {self._dead}. {self._log_tail()}") from e

    def reset(self, options: ResetOptions) -> None:
        """Reload the power-on state, or the savestate ``options.state`` names (seed, characters... are the state's)."""
        name = options.state or self.default_state
        args: list[str] = []
        if name:
            if self.savestate_dir is None:
                raise ValueError(f"reset names savestate {name!r} but the backend has no savestate_dir")
            path = resolve_state_path(self.savestate_dir, name)
            if not path.is_file():
                states = sorted(p.name for p in self.savestate_dir.iterdir()) if self.savestate_dir.is_dir() else []
                raise ValueError(f"no savestate {name!r} in {self.savestate_dir}; there are: {states}")
            assert self._plan is not None
            args.append(self._plan.path_for(path))
        if self._dead or self._conn is None:
            self.close()
            self._launch()
        self._ram_fresh = False
        try:
            self._call(bridge_command("reset", *args))
        except BridgeError as e:
            raise ValueError(f"BizHawk could not reset: {e}") from e

    def step(self, p1: int, p2: int, frames: int) -> None:
        """Hold the masks for ``frames`` frames; the bridge calls joypad.set before every frame."""
        check_step(self.buttons, p1, p2, frames)
        self._ram_fresh = False
        self._call(bridge_command("step", p1, p2, frames), timeout=self.io_timeout + frames * SECONDS_PER_FRAME_BOUND)

    def ram(self) -> np.ndarray:
        """The memory domain, fresh in the watched ranges (zeros elsewhere)."""
        if not self._ram_fresh:
            data = bytes.fromhex(self._call(bridge_command("ram"))[0])
            pos = 0
            for addr, n in self.ranges or ():
                self._ram[addr : addr + n] = np.frombuffer(data, np.uint8, n, pos)
                pos += n
            if pos != len(data):
                raise RuntimeError(f"bridge sent {len(data)} RAM bytes for {pos} watched bytes")
            self._ram_fresh = True
        return self._ram.copy()

    def frame(self) -> np.ndarray:
        """The screen, from EmuHawk's PNG screenshot (needs Pillow)."""
        try:
            from PIL import Image
        except ImportError:
            raise RuntimeError(
                "frames from BizHawk are PNG screenshots; decoding them needs Pillow (pip install pillow)"
            ) from None
        png = bytes.fromhex(self._call(bridge_command("frame"))[0])
        with Image.open(io.BytesIO(png)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()

    def save_state(self) -> bytes:
        """A BizHawk savestate file's bytes."""
        return bytes.fromhex(self._call(bridge_command("save_state"))[0])

    def load_state(self, data: bytes) -> None:
        """Load savestate bytes; the bridge restores the previous state if BizHawk rejects them."""
        if not data.startswith(ZIP_MAGIC):
            raise ValueError("not a BizHawk savestate (expected a zip archive, as save_state returns)")
        self._ram_fresh = False
        try:
            self._call(bridge_command("load_state", data.hex()), timeout=self.io_timeout + len(data) / 1e6)
        except BridgeError as e:
            raise ValueError(f"BizHawk rejected the savestate: {e}") from e

    def close(self) -> None:
        """Ask the bridge to close EmuHawk, then make sure it is gone."""
        if self._conn is not None:
            try:
                self._conn.send(bridge_command("quit"))
                self._conn.receive(2.0)
            except (OSError, ConnectionError):
                pass
            self._conn.close()
            self._conn = None
        self._stop_process()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
