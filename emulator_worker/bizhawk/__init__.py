"""The BizHawk Lua bridge: its wire format on EmuHawk's socket, shared by the backend and the stand-in.

EmuHawk (BizHawk's front end) is the TCP *client*: started with
``--socket_ip``/``--socket_port`` it connects to the worker, and ``bridge.lua``
answers the worker's commands through the ``comm.socketServer*`` Lua functions.
Both directions use BizHawk's framing (2.6.2+): ``"<byte length> <payload>"``,
the length in ASCII decimal and counting the payload's UTF-8 bytes.

A payload is one line of space-separated tokens. Tokens are percent-encoded
(``%20`` for a space, UTF-8 bytes for other characters), so paths and memory
domain names with spaces survive. A request is ``<command> <args...>``; a
reply is ``ok <values...>`` or ``err <message>``. Binary data (RAM, savestates,
PNG screenshots) travels hex-encoded, because EmuHawk converts Lua strings to
.NET strings and would mangle raw bytes.
"""

from __future__ import annotations

import socket
import time
from importlib import resources
from pathlib import Path
from urllib.parse import quote, unquote

from emulator_worker.protocol import Command

BRIDGE_VERSION = 1
"""Bumped whenever bridge.lua and the Python side stop understanding each other."""

BRIDGE_COMMANDS: dict[str, Command] = {
    "HELLO": Command.HELLO, "RESET": Command.RESET, "STEP": Command.STEP, "FRAME": Command.FRAME,
    "SAVE_STATE": Command.SAVE_STATE, "LOAD_STATE": Command.LOAD_STATE,
}  # fmt: skip
"""bridge.lua's COMMAND table: its keys are protocol.Command names and its values their values."""

BRIDGE_ONLY_COMMANDS: dict[str, str] = {"RAM": "ram", "QUIT": "quit"}
"""Commands only the bridge knows: read the watched RAM ranges, and close EmuHawk."""

SNES_PAD: tuple[str, ...] = ("Up", "Down", "Left", "Right", "Select", "Start", "Y", "B", "X", "A", "L", "R")
"""BizHawk's SNES controller button names (without the "P1 " prefix); bit i of a mask = SNES_PAD[i]."""

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_PREFIX_DIGITS = 10


def bridge_script() -> Path:
    """The installed bridge.lua."""
    return Path(str(resources.files("emulator_worker.bizhawk").joinpath("bridge.lua")))


class FramingError(ConnectionError):
    """The byte stream does not follow BizHawk's ``"<length> <payload>"`` framing; it cannot be resynced."""


class BridgeError(RuntimeError):
    """The bridge answered ``err <message>``."""


def encode_frame(payload: str) -> bytes:
    """One framed message: the UTF-8 byte length, a space, the UTF-8 payload."""
    body = payload.encode("utf-8")
    return str(len(body)).encode("ascii") + b" " + body


def command(name: str, *args: object) -> str:
    """A request payload: the command name and its percent-encoded arguments."""
    return " ".join([name, *(quote(str(a), safe="/:,*") for a in args)])


def parse_reply(payload: str) -> list[str]:
    """The decoded values of an ``ok`` reply; raise :class:`BridgeError` for ``err``."""
    status, _, rest = payload.partition(" ")
    if status == "ok":
        return [unquote(t) for t in rest.split(" ") if t]
    if status == "err":
        raise BridgeError(rest or "bridge reported an error without a message")
    raise FramingError(f"bridge reply is neither 'ok' nor 'err': {payload[:80]!r}")


class FramedConnection:
    """A TCP connection speaking BizHawk's framing; tolerates any split of the byte stream."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()

    def send(self, payload: str) -> None:
        """Send one framed message."""
        self.sock.settimeout(None)
        self.sock.sendall(encode_frame(payload))

    def receive(self, timeout: float | None = None) -> str:
        """Read exactly one framed message; raise TimeoutError, ConnectionError or FramingError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            space = self._buf.find(b" ", 0, MAX_PREFIX_DIGITS + 1)
            if space >= 0:
                prefix = bytes(self._buf[:space])
                if not prefix.isdigit():
                    raise FramingError(f"length prefix {prefix!r} is not a decimal number")
                size = int(prefix)
                if size > MAX_MESSAGE_BYTES:
                    raise FramingError(f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
                end = space + 1 + size
                if len(self._buf) >= end:
                    body = bytes(self._buf[space + 1 : end])
                    del self._buf[:end]
                    # EmuHawk encodes .NET strings, so valid UTF-8 is all it can send; be lenient anyway.
                    return body.decode("utf-8", errors="replace")
            elif len(self._buf) > MAX_PREFIX_DIGITS or (self._buf and not self._buf[:1].isdigit()):
                raise FramingError(f"no length prefix in {bytes(self._buf[:16])!r}")
            self._fill(deadline)

    def _fill(self, deadline: float | None) -> None:
        if deadline is None:
            self.sock.settimeout(None)
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete message from the bridge in time")
            self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except TimeoutError:  # socket.timeout is TimeoutError since 3.10
            raise TimeoutError("no complete message from the bridge in time") from None
        if not chunk:
            raise ConnectionError("the bridge closed the connection")
        self._buf += chunk

    def close(self) -> None:
        """Close the socket."""
        try:
            self.sock.close()
        except OSError:
            pass


__all__ = [
    "BRIDGE_COMMANDS", "BRIDGE_ONLY_COMMANDS", "BRIDGE_VERSION", "SNES_PAD", "BridgeError", "FramedConnection",
    "FramingError", "bridge_script", "command", "encode_frame", "parse_reply",
]  # fmt: skip
