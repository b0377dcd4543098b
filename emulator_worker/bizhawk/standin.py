"""A stand-in for BizHawk's EmuHawk and its Lua API, backed by the built-in simulator.

This is NOT BizHawk. It stands in for EmuHawk so that ``bridge.lua`` can be run
and tested for real without BizHawk or a ROM: the real bridge script runs in a
real Lua 5.4 VM (lupa's ``lua54``), against Python implementations of the
EmuHawk Lua functions the bridge uses, and talks to the worker over a real TCP
connection with BizHawk's exact framing. The "ROM" is a small JSON file naming
the simulator's seed, characters, CPU level and two-controller flag; its WRAM
domain is the simulator's RAM view.

Run it like EmuHawk (the BizHawk backend's ``mode="command"`` does this)::

    python -m emulator_worker.bizhawk.standin --socket_ip=127.0.0.1 --socket_port=PORT \
        --lua=emulator_worker/bizhawk/bridge.lua sim-rom.json

Modelled on EmuHawk (BizHawk 2.6.2+), with these deliberate differences:

- ``comm.socketServerResponse`` follows BizHawk's ``SocketServer.ReceiveString``:
  it reads the length prefix byte by byte up to a space, then exactly that many
  bytes, decodes UTF-8, and returns ``""`` on a timeout or a bad prefix. On a
  closed connection it returns ``""`` and ``comm.socketServerIsConnected()``
  turns false (BizHawk instead spins reading the closed socket).
- ``joypad.set`` rejects button names the SNES pad lacks (BizHawk ignores them),
  so that a bridge bug fails loudly here.
- ``savestate.load`` raises a Lua error for a missing or corrupt file (EmuHawk
  shows an on-screen message); the bridge handles both. Savestate files are zip
  archives like BizHawk's binary states, holding ``Core.bin``.
- ``client.speedmode`` rejects 6400 % or more, the limit BizHawk documents.
- ``client.screenshot`` needs Pillow to write its PNG.
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emulator_worker.bizhawk import encode_frame
from emulator_worker.sim import BUTTONS, RAM_SIZE, SF2Sim

SYSTEM_ID = "SNES"
DOMAIN = "WRAM"
STATE_MEMBER = "Core.bin"
FRAMECOUNT_MEMBER = "Framecount.txt"


@dataclass(frozen=True)
class SimRom:
    """What the stand-in "boots": the simulator's match settings."""

    seed: int = 0
    characters: tuple[int, int] = (0, 1)
    difficulty: int = 3
    two_player: bool = False

    @classmethod
    def from_file(cls, path: str | Path) -> SimRom:
        """Read a JSON "ROM" such as ``{"seed": 3, "characters": [0, 1], "difficulty": 3}``."""
        data = json.loads(Path(path).read_text())
        return cls(int(data.get("seed", 0)), tuple(data.get("characters", (0, 1))),  # type: ignore[arg-type]
                   int(data.get("difficulty", 3)), bool(data.get("two_player", False)))  # fmt: skip

    def write(self, path: str | Path) -> Path:
        """Write this ROM as JSON; returns the path."""
        out = Path(path)
        out.write_text(json.dumps({"seed": self.seed, "characters": list(self.characters),
                                   "difficulty": self.difficulty, "two_player": self.two_player}))  # fmt: skip
        return out

    def boot(self) -> SF2Sim:
        """A simulator in this ROM's power-on state (also the reference for tests)."""
        sim = SF2Sim(self.seed)
        sim.reset(seed=self.seed, characters=self.characters, difficulty=self.difficulty, two_player=self.two_player)
        return sim


class StandInExit(Exception):
    """Raised out of the Lua VM when a script ends the stand-in abnormally."""


class EmuHawkStandIn:
    """EmuHawk as the bridge sees it: the Lua API tables plus the socket client."""

    def __init__(self, rom: SimRom, socket_ip: str, socket_port: int, connect_timeout: float = 10.0) -> None:
        from lupa import lua54

        self.rom = rom
        self.sim = rom.boot()
        self.frame_count = 0
        self.exited = False
        self.settings: dict[str, Any] = {}
        self._pad = {f"P{p + 1} {name}": (p, i) for p in (0, 1) for i, name in enumerate(BUTTONS)}
        self._held = [0, 0]
        self._core_states: dict[str, tuple[bytes, int]] = {}
        self._ram: np.ndarray | None = None
        # EmuHawk connects at startup, before any Lua runs; the address must be a numeric IPv4 one.
        socket.inet_aton(socket_ip)
        self.sock = socket.create_connection((socket_ip, socket_port), timeout=connect_timeout)
        self.sock.settimeout(None)
        self.connected = True
        self.address = f"{socket_ip}:{socket_port}"
        self.lua = lua54.LuaRuntime(encoding=None, unpack_returned_tuples=True)
        self._install()

    # ------------------------------------------------------------ Lua API

    def _install(self) -> None:
        g = self.lua.globals()
        tables: dict[str, dict[str, Any]] = {
            "memory": {
                "read_bytes_as_array": self._read_bytes_as_array,
                "read_u8": lambda addr, domain=None: int(self._domain_ram(domain)[addr]),
                "read_u16_le": lambda addr, domain=None: int.from_bytes(
                    self._domain_ram(domain)[addr : addr + 2].tobytes(), "little"
                ),
                "getmemorydomainlist": lambda: self.lua.table_from({0: DOMAIN.encode()}),
                "getmemorydomainsize": lambda name=None: RAM_SIZE,
            },
            "joypad": {"set": self._joypad_set, "get": self._joypad_get},
            "emu": {
                "frameadvance": self._frameadvance,
                "framecount": lambda: self.frame_count,
                "limitframerate": lambda on: self.settings.__setitem__("limitframerate", bool(on)),
                "getsystemid": lambda: SYSTEM_ID.encode(),
                "yield": lambda: None,
            },
            "savestate": {"save": self._savestate_save, "load": self._savestate_load},
            "memorysavestate": {
                "savecorestate": self._savecorestate,
                "loadcorestate": self._loadcorestate,
                "removestate": lambda sid: self._core_states.pop(_text(sid), None) and None,
                "clearstatesfrommemory": self._core_states.clear,
            },
            "client": {
                "speedmode": self._speedmode,
                "SetSoundOn": lambda on: self.settings.__setitem__("sound", bool(on)),
                "screenshot": self._screenshot,
                "exit": self._exit,
                "getversion": lambda: b"stand-in",
                "displaymessages": lambda on: None,
            },
            "comm": {
                "socketServerSetTimeout": self._set_timeout,
                "socketServerResponse": self._receive_string,
                "socketServerSend": self._send_string,
                "socketServerIsConnected": lambda: self.connected,
                "socketServerGetInfo": lambda: self.address.encode(),
            },
        }
        for name, functions in tables.items():
            g[name.encode()] = self.lua.table_from({k.encode(): v for k, v in functions.items()})
        g[b"print"] = lambda *args: print(*(_text(a) if isinstance(a, bytes) else a for a in args), file=sys.stderr)

    def _domain_ram(self, domain: bytes | None) -> np.ndarray:
        if domain not in (None, b"", DOMAIN.encode()):
            raise ValueError(f"memory domain {_text(domain)!r} does not exist; this core has {DOMAIN}")
        if self._ram is None:
            self._ram = self.sim.ram()
        return self._ram

    def _read_bytes_as_array(self, addr: int, length: int, domain: bytes | None = None) -> Any:
        ram = self._domain_ram(domain)
        if addr < 0 or length < 0 or addr + length > ram.shape[0]:
            raise ValueError(f"read of {length} bytes at {addr:#x} leaves the {ram.shape[0]}-byte {DOMAIN}")
        return self.lua.table_from(ram[addr : addr + length].tolist())  # 1-indexed, like BizHawk's

    def _joypad_set(self, buttons: Any, controller: int | None = None) -> None:
        for key, value in buttons.items():
            name = _text(key) if controller is None else f"P{controller} {_text(key)}"
            if name not in self._pad:
                raise ValueError(f"joypad.set: {name!r} is not a button of the {SYSTEM_ID} pad")
            player, bit = self._pad[name]
            if value is True:
                self._held[player] |= 1 << bit
            elif value is False:
                self._held[player] &= ~(1 << bit)

    def _joypad_get(self, controller: int | None = None) -> Any:
        return self.lua.table_from({k.encode(): bool(self._held[p] >> b & 1) for k, (p, b) in self._pad.items()})

    def _frameadvance(self) -> None:
        self.sim.step(self._held[0], self._held[1], 1)
        self.frame_count += 1
        self._held = [0, 0]  # joypad.set lasts one frame
        self._ram = None

    def _savecorestate(self) -> bytes:
        sid = str(uuid.uuid4())
        self._core_states[sid] = (self.sim.save_state(), self.frame_count)
        return sid.encode()

    def _loadcorestate(self, sid: bytes) -> None:
        try:
            state, frames = self._core_states[_text(sid)]
        except KeyError:
            raise ValueError(f"no in-memory savestate {_text(sid)!r}") from None
        self.sim.load_state(state)
        self.frame_count = frames
        self._ram = None

    def _savestate_save(self, path: bytes, suppress_osd: bool = False) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("BizState 1.0", "stand-in")
            z.writestr(STATE_MEMBER, self.sim.save_state())
            z.writestr(FRAMECOUNT_MEMBER, str(self.frame_count))
        Path(_text(path)).write_bytes(buf.getvalue())

    def _savestate_load(self, path: bytes, suppress_osd: bool = False) -> bool:
        try:
            with zipfile.ZipFile(Path(_text(path))) as z:
                state = z.read(STATE_MEMBER)
                frames = int(z.read(FRAMECOUNT_MEMBER))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"not a savestate: {e}") from e
        self.sim.load_state(state)  # SimStateError (a ValueError) leaves the sim unchanged
        self.frame_count = frames
        self._ram = None
        return True

    def _speedmode(self, percent: int) -> None:
        if not 0 < percent < 6400:
            raise ValueError(f"speed {percent}% is outside BizHawk's range (1-6399)")
        self.settings["speed"] = percent

    def _screenshot(self, path: bytes | None = None) -> None:
        if path is None:
            raise ValueError("the stand-in needs client.screenshot(path)")
        from PIL import Image

        Image.fromarray(self.sim.frame()).save(_text(path), format="PNG")

    def _exit(self) -> None:
        self.exited = True

    # ------------------------------------------------------------ comm (EmuHawk's socket client)

    def _set_timeout(self, ms: int) -> None:
        # .NET's Socket.ReceiveTimeout: 0 or -1 mean "wait forever".
        self.sock.settimeout(None if ms <= 0 else ms / 1000)

    def _receive_string(self) -> bytes:
        # Lua gets a Lua string (bytes); a Python str would arrive as an opaque Python object.
        return self._receive_text().encode("utf-8")

    def _receive_text(self) -> str:
        try:
            digits = bytearray()
            while True:
                byte = self.sock.recv(1)
                if not byte:
                    raise ConnectionError("closed")
                if byte == b" ":
                    break
                digits += byte
            size = int(digits.decode("ascii"))
            body = bytearray()
            while len(body) < size:
                chunk = self.sock.recv(size - len(body))
                if not chunk:
                    raise ConnectionError("closed")
                body += chunk
            return body.decode("utf-8", errors="replace")
        except ConnectionError:
            self.connected = False
            return ""
        except (OSError, ValueError, UnicodeDecodeError):
            return ""  # BizHawk swallows every receive error and returns ""

    def _send_string(self, text: bytes) -> int:
        # NLua hands EmuHawk a .NET string; SendString encodes it as UTF-8 and prefixes the byte length.
        data = encode_frame(_text(text))
        try:
            self.sock.sendall(data)
        except OSError:
            return -1
        return len(data)

    # ------------------------------------------------------------ running

    def run(self, script: str | Path) -> int:
        """Run a Lua script to its end; 0 if it closed "EmuHawk" through client.exit()."""
        try:
            self.lua.execute(Path(script).read_bytes())
        finally:
            self.close()
        return 0 if self.exited else 1

    def close(self) -> None:
        """Drop the connection."""
        try:
            self.sock.close()
        except OSError:
            pass
        self.connected = False


def _text(value: bytes | str) -> str:
    # Lua strings reach EmuHawk as .NET strings, decoded from UTF-8 with replacement characters.
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def main(argv: list[str] | None = None) -> int:
    """Command line compatible with the EmuHawk flags the worker passes; other flags are ignored."""
    ap = argparse.ArgumentParser(prog="emuhawk-standin", description=__doc__.splitlines()[0])
    ap.add_argument("--socket_ip", required=True)
    ap.add_argument("--socket_port", type=int, required=True)
    ap.add_argument("--lua", required=True)
    ap.add_argument("rom")
    args, _unknown = ap.parse_known_args(argv)
    standin = EmuHawkStandIn(SimRom.from_file(args.rom), args.socket_ip, args.socket_port)
    return standin.run(args.lua)


if __name__ == "__main__":
    sys.exit(main())
