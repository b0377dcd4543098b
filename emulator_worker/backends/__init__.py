"""Emulator backends, created by name. Imports are lazy so a host only loads its own."""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

from emulator_worker.backends.base import Backend, BackendUnavailable, ResetOptions


class BackendEntry(NamedTuple):
    """Where a backend's class lives, and whether one process may run several of its emulators."""

    target: str
    multi_game: bool


BACKENDS: dict[str, BackendEntry] = {
    "sim": BackendEntry("emulator_worker.backends.sim:SimBackend", multi_game=True),
    # stable-retro allows one emulator per process; each BizHawk game is an EmuHawk process of its own.
    "retro": BackendEntry("emulator_worker.backends.retro:RetroBackend", multi_game=False),
    "bizhawk": BackendEntry("emulator_worker.backends.bizhawk:BizHawkBackend", multi_game=False),
}


def _entry(name: str) -> BackendEntry:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; valid: {sorted(BACKENDS)}") from None


def multi_game(name: str) -> bool:
    """Whether one instance process may run several games of backend ``name``."""
    return _entry(name).multi_game


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate backend ``name`` with its options."""
    module, attr = _entry(name).target.split(":")
    cls = getattr(importlib.import_module(module), attr)
    backend: Backend = cls(**options)
    return backend


__all__ = ["BACKENDS", "Backend", "BackendEntry", "BackendUnavailable", "ResetOptions", "create_backend", "multi_game"]
