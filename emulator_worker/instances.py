"""Emulator instances: one OS process each, spawned, health-checked and restarted.

stable-retro allows one emulator per process and BizHawk is a process of its
own, so every slot of a host is a child process. The child connects a DEALER to
the host's internal ROUTER and serves the requests the host forwards to it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import zmq

from emulator_worker import protocol as p
from emulator_worker.backends import Backend, ResetOptions, create_backend

READY = b"READY"
FAILED = b"FAILED"


def set_parent_death_signal() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (no-op elsewhere)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _ram_bytes(ram: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> bytes:
    size = ram.shape[0]
    for addr, n in ranges:
        if addr + n > size:
            raise ValueError(f"RAM range 0x{addr:X}+{n} exceeds the {size}-byte RAM")
    return b"".join(ram[a : a + n].tobytes() for a, n in ranges)


class Executor:
    """Runs decoded slot requests against one backend; the child's whole job."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.frames_run = 0
        self._handlers: dict[p.Command, Callable[[Any], p.Reply]] = {
            p.Command.RESET: self._reset,
            p.Command.STEP: self._step,
            p.Command.FRAME: lambda r: p.Reply(r.id, frame=self.backend.frame()),
            p.Command.SAVE_STATE: lambda r: p.Reply(r.id, data=self.backend.save_state()),
            p.Command.LOAD_STATE: self._load,
        }

    def _observation(self, req: p.Reset | p.Step) -> p.Reply:
        ram = _ram_bytes(self.backend.ram(), req.ram_ranges)
        frame = self.backend.frame() if req.want_frame else None
        return p.Reply(req.id, {"frames_run": self.frames_run}, ram=ram, frame=frame)

    def _reset(self, req: p.Reset) -> p.Reply:
        opts = ResetOptions(req.seed, req.characters, req.difficulty, req.two_player, req.state)
        self.backend.reset(opts)
        return self._observation(req)

    def _step(self, req: p.Step) -> p.Reply:
        for seg in req.segments:
            if seg.frames:
                self.backend.step(seg.p1, seg.p2, seg.frames)
                self.frames_run += seg.frames
        return self._observation(req)

    def _load(self, req: p.LoadState) -> p.Reply:
        self.backend.load_state(req.data)
        return p.Reply(req.id)

    def handle(self, frames: list[bytes]) -> list[bytes]:
        """Decode, execute and encode; every failure becomes an error reply."""
        req_id: int | None = None
        try:
            req = p.decode_request(frames)
            req_id = req.id
            handler = self._handlers.get(req.COMMAND)
            if handler is None:
                raise p.ProtocolError(f"{req.COMMAND.value} is not an instance command", req_id)
            return p.encode_reply(handler(req))
        except p.ProtocolError as e:
            return p.error_reply(e.request_id, p.ErrorType.BAD_REQUEST, str(e))
        except ValueError as e:
            return p.error_reply(req_id, p.ErrorType.BAD_REQUEST, str(e), traceback.format_exc())
        except Exception as e:
            return p.error_reply(req_id, p.ErrorType.BACKEND, f"{type(e).__name__}: {e}", traceback.format_exc())


def serve_instance(backend: str, options: dict[str, Any], endpoint: str, identity: bytes) -> None:
    """Child main loop: build the backend, announce READY, serve forever."""
    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, identity)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.connect(endpoint)
    try:
        executor = Executor(create_backend(backend, **options))
    except Exception as e:
        # The host reports this to clients instead of restarting us in a tight loop.
        sock.send_multipart([FAILED, f"{type(e).__name__}: {e}".encode()])
        sock.close()
        raise SystemExit(3) from e
    sock.send_multipart([READY, json.dumps({"buttons": list(executor.backend.buttons)}).encode()])
    while True:
        msg = sock.recv_multipart(copy=True)
        client, frames = msg[0], msg[1:]
        sock.send_multipart([client, *executor.handle(frames)], copy=False)


class Instance:
    """A supervised child process running one emulator."""

    def __init__(self, index: int, backend: str, options: dict[str, Any], endpoint: str) -> None:
        self.index = index
        self.identity = f"slot-{index}".encode()
        self.backend = backend
        self.options = options
        self.endpoint = endpoint
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.started_at = 0.0

    def start(self) -> None:
        """Launch the child process."""
        cmd = [
            sys.executable,
            "-m",
            "emulator_worker.instances",
            "--backend",
            self.backend,
            "--options",
            json.dumps(self.options),
            "--endpoint",
            self.endpoint,
            "--identity",
            self.identity.decode(),
        ]
        kwargs: dict[str, Any] = {}
        if sys.platform == "linux":
            kwargs["preexec_fn"] = set_parent_death_signal
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **kwargs)
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        """Whether the child process is running."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self.proc.pid if self.proc else None

    def restart(self) -> None:
        """Kill (if needed) and start again."""
        self.stop()
        self.restarts += 1
        self.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child, killing it if it does not exit in time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def main(argv: list[str] | None = None) -> None:
    """Entry point of an instance child process."""
    ap = argparse.ArgumentParser(description="one emulator instance (started by emulator-worker serve)")
    ap.add_argument("--backend", required=True)
    ap.add_argument("--options", default="{}")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--identity", required=True)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    serve_instance(args.backend, json.loads(args.options), args.endpoint, args.identity.encode())


if __name__ == "__main__":
    main()
