"""Emulator backends, created by name. Imports are lazy so a host only loads its own."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
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


def _class(name: str) -> type:
    module, attr = _entry(name).target.split(":")
    cls: type = getattr(importlib.import_module(module), attr)
    return cls


def backend_options(name: str) -> list[str]:
    """The options backend ``name`` takes: its constructor's keyword parameters (its schema)."""
    params = list(inspect.signature(_class(name)).parameters.values())
    return [prm.name for prm in params if prm.kind in (prm.POSITIONAL_OR_KEYWORD, prm.KEYWORD_ONLY)]


def check_options(name: str, options: Mapping[str, Any]) -> None:
    """Reject options backend ``name`` does not take, naming the ones it does (before any process starts)."""
    valid = backend_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"the {name} backend takes no option {', '.join(unknown)}; valid: {valid or 'none'}")


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate backend ``name`` with its options."""
    backend: Backend = _class(name)(**options)
    return backend


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendEntry",
    "BackendUnavailable",
    "ResetOptions",
    "backend_options",
    "check_options",
    "create_backend",
    "multi_game",
]
