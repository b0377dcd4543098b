"""Backend adapter for stable-retro (libretro cores): any integrated game id, e.g. ``Airstriker-Genesis-v0``.

stable-retro allows one emulator per process, which the worker guarantees (one
instance per child process). RAM is returned in the console CPU's byte order:
stable-retro's cores for 68000 systems (Genesis, 32X, Saturn, FBNeo) keep work
RAM as native-endian 16-bit words, and its own core metadata ("overlay") says
so; undoing that here means a game spec uses the same addresses and big-endian
types as the integration's ``data.json``, and any byte can be read by address.
"""

from __future__ import annotations

import difflib
import gc
import gzip
import sys
from pathlib import Path
from typing import Any

import numpy as np

from emulator_worker.backends.base import BackendUnavailable, ResetOptions, check_step, resolve_state_path

_ORDER = {"<": "little", ">": "big"}


def word_swap(overlay: Any, host: str = sys.byteorder) -> int:
    """Bytes per word to reverse so RAM reads in console order (1 = none), from a core's ``overlay`` entry.

    stable-retro writes ``overlay`` as ``[stored order, console order, word size]``, where ``=`` is the host's.
    """
    if not overlay:
        return 1
    stored, console, size = overlay
    stored_order = host if stored == "=" else _ORDER.get(stored, host)
    console_order = host if console == "=" else _ORDER.get(console, host)
    return int(size) if stored_order != console_order and int(size) > 1 else 1


class RetroBackend:
    """One stable-retro emulator behind the backend interface."""

    name = "retro"

    def __init__(self, game: str, state: str | None = None, states_dir: str | None = None, players: int = 1) -> None:
        """Load ``game`` (a stable-retro id). ``state`` is the default savestate for resets (a file in
        ``states_dir`` or one of the game's stable-retro states; default the game's own default state).
        ``players=2`` drives both controllers (needs a two-player state)."""
        try:
            import stable_retro as retro
        except ImportError:
            raise BackendUnavailable("the retro backend needs stable-retro: pip install 'sf2rl[retro]'") from None
        if players not in (1, 2):
            raise ValueError(f"players must be 1 or 2, got {players}")
        self._retro = retro
        self.game = game
        self.players = players
        self.states_dir = Path(states_dir).expanduser() if states_dir else None
        self._env = self._make(game)
        env = self._env
        self.buttons: tuple[str, ...] = tuple(b or "" for b in env.buttons)
        self.system: str = env.system
        self._swap = word_swap(retro.get_system_info(self.system).get("overlay"))
        self._arrays: dict[int, np.ndarray] = {}
        self._zero = np.zeros(len(self.buttons), np.uint8)
        # The state a reset returns to when none is named: the option, else the game's default, else power-on.
        self._state_cache: dict[str, bytes] = {}
        try:
            self._default = self._state_bytes(state) if state else (env.initial_state or env.em.get_state())
        except BaseException:
            self.close()  # free the process's one emulator slot
            raise

    def _make(self, game: str) -> Any:
        retro = self._retro
        known = retro.data.list_games(retro.data.Integrations.ALL)
        if game not in known:
            close = difflib.get_close_matches(game, known, n=5)
            raise BackendUnavailable(f"stable-retro has no game {game!r}; close matches: {close}")
        try:
            return retro.make(game, render_mode=None, players=self.players, inttype=retro.data.Integrations.ALL)
        except FileNotFoundError as e:
            raise BackendUnavailable(
                f"the ROM of {game} is not imported into stable-retro ({e}). Put the ROM file you own in a "
                "folder and run: python -m stable_retro.import FOLDER (it copies ROMs whose checksum matches "
                "an integration)"
            ) from e
        except RuntimeError as e:
            raise BackendUnavailable(f"cannot start stable-retro for {game}: {e} (one emulator per process)") from e

    # ------------------------------------------------------------ states

    def _state_bytes(self, name: str) -> bytes:
        """Savestate bytes by name: a file in ``states_dir`` first, then the game's stable-retro states."""
        if name in self._state_cache:
            return self._state_cache[name]
        path: Path | None = None
        if self.states_dir is not None:
            for candidate in (name, f"{name}.state"):
                p = resolve_state_path(self.states_dir, candidate)
                if p.is_file():
                    path = p
                    break
        if path is None:
            base = name[: -len(".state")] if name.endswith(".state") else name
            stock = self._retro.data.list_states(self.game, self._retro.data.Integrations.ALL)
            # Only the game's own listed states: stable-retro joins the name into its data folder,
            # so a name like ../other/x would otherwise read any .state file on the host.
            found = (
                self._retro.data.get_file_path(self.game, f"{base}.state", self._retro.data.Integrations.ALL)
                if base in stock
                else None
            )
            if found is None:
                local = (
                    sorted(p.name for p in self.states_dir.glob("*"))
                    if self.states_dir and self.states_dir.is_dir()
                    else []
                )
                raise ValueError(
                    f"no savestate {name!r}: not in states_dir ({local}) nor among {self.game}'s states {stock}"
                )
            path = Path(found)
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw  # stable-retro's .state files are gzipped
        self._state_cache[name] = data
        return data

    def _set_state(self, data: bytes) -> None:
        """Load state bytes, or raise ValueError with the emulator unchanged."""
        em = self._env.em
        before = em.get_state()
        if not em.set_state(data):
            em.set_state(before)  # the core refused the bytes; make sure nothing half-loaded stays
            raise ValueError(f"stable-retro rejected {len(data)} bytes of savestate for {self.game}")

    # ------------------------------------------------------------ interface

    def reset(self, options: ResetOptions) -> None:
        """Load the named savestate (or the default one), release the pads and run one frame, as stable-retro does."""
        if options.two_player and self.players != 2:
            raise ValueError("a two-player reset needs the retro backend started with players=2")
        data = self._state_bytes(options.state) if options.state else self._default
        self._set_state(data)
        em = self._env.em
        for p in range(self.players):
            em.set_button_mask(self._zero, p)
        em.step()
        self._env.data.reset()
        self._env.data.update_ram()

    def _array(self, mask: int) -> np.ndarray:
        arr = self._arrays.get(mask)
        if arr is None:
            # Same filter as RetroEnv.step (e.g. no up+down), so a mask means what env.step would do with it.
            allowed = int(self._env.data.filter_action(mask))
            arr = np.array([(allowed >> i) & 1 for i in range(len(self.buttons))], np.uint8)
            self._arrays[mask] = arr
        return arr

    def step(self, p1: int, p2: int, frames: int) -> None:
        """Hold the masks for ``frames`` frames (p2 only with players=2)."""
        check_step(self.buttons, p1, p2, frames)
        em = self._env.em
        a1 = self._array(p1)
        a2 = self._array(p2) if self.players == 2 else None
        for _ in range(frames):
            # What RetroEnv.step does per frame, minus copying the screen and computing its reward.
            em.set_button_mask(a1, 0)
            if a2 is not None:
                em.set_button_mask(a2, 1)
            em.step()
        self._env.data.update_ram()

    def ram(self) -> np.ndarray:
        """Work RAM in the console's byte order (offset i = address rambase + i)."""
        ram = self._env.get_ram()
        if self._swap > 1:
            return ram.view(f"u{self._swap}").byteswap().view(np.uint8)
        return np.ascontiguousarray(ram, dtype=np.uint8)

    def frame(self) -> np.ndarray:
        """The screen as (H, W, 3) uint8."""
        return np.asarray(self._env.em.get_screen(), dtype=np.uint8)

    def save_state(self) -> bytes:
        """The core's savestate bytes."""
        return bytes(self._env.em.get_state())

    def load_state(self, data: bytes) -> None:
        """Restore :meth:`save_state` bytes; ValueError (emulator unchanged) if the core rejects them."""
        self._set_state(bytes(data))
        self._env.data.update_ram()

    def close(self) -> None:
        """Free the emulator so another may be created in this process."""
        env, self._env = getattr(self, "_env", None), None
        if env is not None:
            env.close()
            del env
            gc.collect()
