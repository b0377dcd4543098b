"""`sf2rl watch`: a live mosaic of the matches a sweep's env runners are playing, like the talk's booth display.

Envs with the `publish_frames` option PUBlish small JPEG frames over ZeroMQ to
the viewer's SUB socket, never blocking training (a high-water mark of a few
frames and non-blocking sends: a slow or absent viewer just misses frames). The
viewer serves a local web page that polls the newest frame of every stream.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import zmq

from sf2rl.env.frames import DEFAULT_ENDPOINT, TOPIC
from sf2rl.play.run_links import RunLinks, store_exists

STALE_S = 20.0


@dataclass
class Stream:
    """The newest frame of one env."""

    jpeg: bytes
    meta: dict[str, Any]
    seq: int
    seen: float


class Watcher:
    """Binds the SUB socket, keeps the newest frame per stream, and serves the mosaic page."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        port: int = 8765,
        host: str = "127.0.0.1",
        tracking_uri: str | None = None,
        mlflow_url: str = "http://127.0.0.1:5000",
    ) -> None:
        self.sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, TOPIC)
        self.sub.setsockopt(zmq.RCVHWM, 64)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.bind(endpoint)
        self.endpoint: str = self.sub.getsockopt_string(zmq.LAST_ENDPOINT)
        self.streams: dict[str, Stream] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.http = ThreadingHTTPServer((host, port), _handler(self))
        self.http.daemon_threads = True
        self.url = f"http://{host}:{self.http.server_address[1]}/"
        self.links = (
            RunLinks(tracking_uri, mlflow_url, self.url) if tracking_uri and store_exists(tracking_uri) else None
        )
        """Each labelled stream's MLflow run (None: no store to look in)."""
        self._threads = [
            threading.Thread(target=self._receive, name="watch-sub", daemon=True),
            threading.Thread(target=self.http.serve_forever, name="watch-http", daemon=True),
        ]

    def start(self) -> Watcher:
        """Start receiving and serving in background threads."""
        for t in self._threads:
            t.start()
        return self

    def _receive(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sub, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(200):
                continue
            try:
                _topic, header, jpeg = self.sub.recv_multipart(zmq.NOBLOCK)
                meta = json.loads(header)
                sid = str(meta["stream"])
            except (zmq.Again, ValueError, KeyError):
                continue  # a malformed message from some other publisher: ignore it
            with self.lock:
                prev = self.streams.get(sid)
                self.streams[sid] = Stream(jpeg, meta, prev.seq + 1 if prev else 1, time.monotonic())

    def snapshot(self) -> list[dict[str, Any]]:
        """Live streams (stale ones dropped), for the page."""
        now = time.monotonic()
        with self.lock:
            for sid in [s for s, v in self.streams.items() if now - v.seen > STALE_S]:
                del self.streams[sid]
            live = [
                {"id": sid, "seq": v.seq, "age": round(now - v.seen, 1), **v.meta}
                for sid, v in sorted(self.streams.items())
            ]
        if self.links is not None:  # outside the lock: a lookup may wait on the store
            for s in live:
                found = self.links.link(str(s["label"])) if s.get("label") else None
                if found is not None:
                    s.update(run=found.name, run_url=found.url)
        return live

    def frame(self, sid: str) -> bytes | None:
        """The newest JPEG of a stream."""
        with self.lock:
            s = self.streams.get(sid)
            return s.jpeg if s else None

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._stop.set()
        if self._threads[1].is_alive():  # shutdown() waits for serve_forever, which a never-started viewer never ran
            self.http.shutdown()
        self.http.server_close()
        for t in self._threads:
            if t.is_alive():
                t.join(2)
        self.sub.close(0)
        if self.links is not None:
            self.links.close()


def _handler(watcher: Watcher) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(200, "text/html; charset=utf-8", PAGE.encode())
            elif path == "/streams.json":
                self._send(200, "application/json", json.dumps(watcher.snapshot()).encode())
            elif path.startswith("/frame/") and path.endswith(".jpg"):
                jpeg = watcher.frame(unquote(path[len("/frame/") : -len(".jpg")]))
                if jpeg:
                    self._send(200, "image/jpeg", jpeg)
                else:
                    self._send(404, "text/plain", b"no such stream")
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            """Quiet: the page polls several times a second."""

    return Handler


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>sf2rl watch</title>
<style>
 body { background:#111; color:#eee; font:13px system-ui, sans-serif; margin:12px; }
 h1 { font-size:16px; margin:0 0 10px; }
 #grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(260px, 1fr)); gap:10px; }
 figure { margin:0; background:#222; padding:6px; border-radius:4px; }
 img.frame { width:100%; image-rendering:pixelated; display:block; }
 figcaption { margin-top:4px; font-size:12px; color:#bbb; }
 a.run { display:block; font-size:12px; color:#8bf; margin-top:2px; }
 .bar { height:5px; background:#a22; margin-top:3px; } .bar > div { height:100%; background:#3c4; }
</style></head>
<body><h1>sf2rl watch &mdash; <span id="count">0</span> live matches</h1><div id="grid"></div>
<script>
const grid = document.getElementById("grid");
function tile(s) {
  let fig = document.getElementById("s-" + s.id);
  if (!fig) {
    fig = document.createElement("figure"); fig.id = "s-" + s.id;
    fig.innerHTML = '<img class="frame" alt=""><div class="bar"><div></div></div><figcaption></figcaption>' +
      '<a class="run" target="_blank" rel="noopener"></a>';
    grid.appendChild(fig);
  }
  return fig;
}
async function poll() {
  try {
    const streams = await (await fetch("/streams.json", {cache: "no-store"})).json();
    document.getElementById("count").textContent = streams.length;
    const live = new Set();
    for (const s of streams) {
      live.add("s-" + s.id);
      const fig = tile(s), img = fig.querySelector("img");
      if (img.dataset.seq !== String(s.seq)) {
        img.src = "/frame/" + encodeURIComponent(s.id) + ".jpg?seq=" + s.seq;
        img.dataset.seq = String(s.seq);
      }
      const hp = s.health || [0, 0], max = s.max_health || 1;
      fig.querySelector(".bar > div").style.width = (100 * hp[0] / max) + "%";
      fig.querySelector("figcaption").textContent =
        `${s.id} · ep ${s.episode} · step ${s.step} · vs ${s.opponent} · HP ${hp[0]}-${hp[1]} · return ${s.return}`;
      const run = fig.querySelector("a.run");  // the trial's MLflow run, when the viewer knows the store
      run.textContent = s.run ? "MLflow run: " + s.run : (s.label ? "trial " + s.label : "");
      if (s.run_url) run.href = s.run_url; else run.removeAttribute("href");
    }
    for (const fig of [...grid.children]) if (!live.has(fig.id)) fig.remove();
  } catch (e) { /* the viewer restarted: keep polling */ }
  setTimeout(poll, 250);
}
poll();
</script></body></html>
"""
