"""`sf2rl arcade`'s server: the booth's matches at 60 fps over a WebSocket, and the page that plays them.

Each frame goes to every open page as one binary message: a 10-byte header (the input sequence
number in effect, the frame count, the JSON length), the JSON of :meth:`Booth.view`, then the
sim's own RGB picture (256 x 224 x 3). The newest page holds the pad; the others watch. The page
sends the held buttons and a sequence number on every key or gamepad change, so it can time a
keypress to the first frame drawn with it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import threading
import time
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web

from sf2rl.core.errors import ConfigError
from sf2rl.play.arcade import FPS, Booth, HumanPad

log = logging.getLogger(__name__)
HEADER = struct.Struct("<IIH")
"""seq (input in effect), frame number, JSON length."""
MAX_MESSAGE = 4096
"""Input messages are a few held button names; anything larger is not from the page."""


def _asset(name: str) -> bytes:
    return resources.files("sf2rl.play").joinpath("static", name).read_bytes()


class ArcadeServer:
    """Runs a :class:`Booth` in real time and serves it on ``host:port`` (0: any free port)."""

    def __init__(self, booth: Booth, pad: HumanPad | None, host: str = "127.0.0.1", port: int = 8770) -> None:
        self.booth = booth
        self.pad = pad
        self.host, self.port = host, port
        self.frames_sent = 0
        self.late_frames = 0
        """Ticks that started more than a frame late (the server could not hold 60 fps)."""
        self._clients: dict[web.WebSocketResponse, bool] = {}  # page -> a send is in flight
        self._sending: set[asyncio.Future[None]] = set()
        self._holder: web.WebSocketResponse | None = None
        """The page whose keys drive the pad: the newest one."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{self.host}:{self.port}/"

    # ------------------------------------------------------------- lifecycle

    def start(self) -> ArcadeServer:
        """Bind and serve from a background thread; a port in use is a ConfigError."""
        self._thread = threading.Thread(target=self._serve, name="sf2rl-arcade", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            if isinstance(self._error, OSError):
                raise ConfigError(
                    f"cannot listen on {self.host}:{self.port}: {self._error.strerror}; pick another --port"
                )
            raise self._error
        return self

    def stop(self) -> None:
        """Stop the match loop and the server."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as e:  # reported to start(), which is waiting for it
            self._error = e
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/arcade.js", self._script)
        app.router.add_get("/ws", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])  # port 0 asked for any: say which
        self._stopping = asyncio.Event()
        self._ready.set()
        try:
            await self._play()
        finally:
            for ws in list(self._clients):
                await ws.close()
            await self._runner.cleanup()

    # ------------------------------------------------------------- the match

    async def _play(self) -> None:
        """Tick the booth at FPS and send each frame; a late tick runs at once, a far-behind clock resets."""
        assert self._stopping is not None
        period = 1.0 / FPS
        due = time.perf_counter()
        while not self._stopping.is_set():
            state = self.booth.tick()
            self._broadcast(state)
            due += period
            wait = due - time.perf_counter()
            if wait < -period:
                self.late_frames += 1
                if wait < -10 * period:
                    due = time.perf_counter()  # the machine stalled: do not race to catch up
            try:
                await asyncio.wait_for(self._stopping.wait(), max(wait, 0.0))
            except TimeoutError:
                pass

    def _broadcast(self, state: Any) -> None:
        frame = self.booth.frame
        if frame is None or not self._clients:
            return
        meta = json.dumps(self.booth.view(state), separators=(",", ":")).encode()
        seq = self.pad.seq if self.pad is not None else 0
        message = HEADER.pack(seq, self.booth.frames, len(meta)) + meta + frame.tobytes()
        for ws, busy in list(self._clients.items()):
            if not busy and not ws.closed:  # a page still drawing the last frame skips this one
                self._clients[ws] = True
                task = asyncio.ensure_future(self._send(ws, message))
                self._sending.add(task)  # held until done: the loop keeps only weak references to tasks
                task.add_done_callback(self._sending.discard)
        self.frames_sent += 1

    async def _send(self, ws: web.WebSocketResponse, message: bytes) -> None:
        try:
            await ws.send_bytes(message)
        except (ConnectionError, RuntimeError):
            self._clients.pop(ws, None)
            return
        if ws in self._clients:
            self._clients[ws] = False

    # ------------------------------------------------------------- web

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(body=_asset("arcade.html"), content_type="text/html", charset="utf-8")

    async def _script(self, request: web.Request) -> web.Response:
        return web.Response(body=_asset("arcade.js"), content_type="application/javascript", charset="utf-8")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, heartbeat=20)
        await ws.prepare(request)
        self._clients[ws] = False
        self._holder = ws
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT or self.pad is None or self._holder is not ws:
                    continue
                try:
                    data = json.loads(msg.data)
                    keys, seq = data["keys"], data["seq"]
                    if not isinstance(keys, list) or not isinstance(seq, int):
                        raise ValueError
                except (ValueError, KeyError, TypeError):
                    continue  # not the page's message: ignored, the match goes on
                self.pad.press([k for k in keys if isinstance(k, str)], seq)
        finally:
            self._clients.pop(ws, None)
            if self._holder is ws and self.pad is not None:
                self.pad.press([], self.pad.seq)  # a page that left lets go of the keys it held
        return ws
