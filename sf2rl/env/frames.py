"""Frames an env offers to the `sf2rl watch` viewer: small JPEGs over a ZeroMQ PUB socket.

Publishing never blocks training: a high-water mark of a few frames and
non-blocking sends mean a slow or absent viewer just misses frames.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import socket
import time
from typing import Any

import numpy as np
import zmq

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5599"
"""Where `sf2rl watch` binds and envs connect by default."""
TOPIC = b"sf2rl.frame"
_streams = itertools.count(1)


class FramePublisher:
    """One env's side: rate-limited, non-blocking JPEG frames to a viewer."""

    def __init__(self, endpoint: str, fps: float = 4.0, width: int = 192, quality: int = 70) -> None:
        self.interval = 1.0 / fps
        self.width = width
        self.quality = quality
        self.stream = f"{socket.gethostname()}-{os.getpid()}-{next(_streams)}"
        self.sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUB)
        self.sock.setsockopt(zmq.SNDHWM, 4)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self._last = 0.0

    def due(self) -> bool:
        """Whether a frame may go out now (checked before the frame is even fetched)."""
        return time.monotonic() - self._last >= self.interval

    def publish(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        """Send one downscaled frame; dropped silently if the viewer is slow or absent."""
        from PIL import Image

        self._last = time.monotonic()
        img = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
        height = max(1, round(img.height * self.width / img.width))
        buf = io.BytesIO()
        img.resize((self.width, height)).save(buf, "JPEG", quality=self.quality)
        header = json.dumps({**meta, "stream": self.stream, "t": time.time()}).encode()
        try:
            self.sock.send_multipart([TOPIC, header, buf.getvalue()], flags=zmq.NOBLOCK)
        except zmq.Again:
            pass

    def close(self) -> None:
        """Drop the socket (and any unsent frames)."""
        self.sock.close(0)
