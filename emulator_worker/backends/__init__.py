"""Emulator backends, created by name. Imports are lazy so a host only loads its own."""

from __future__ import annotations

import importlib
from typing import Any

from emulator_worker.backends.base import Backend, BackendUnavailable, ResetOptions

BACKENDS: dict[str, str] = {
    "sim": "emulator_worker.backends.sim:SimBackend",
    "retro": "emulator_worker.backends.retro:RetroBackend",
    "bizhawk": "emulator_worker.backends.bizhawk:BizHawkBackend",
}


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate backend ``name`` with its options."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; valid: {sorted(BACKENDS)}") from None
    module, attr = target.split(":")
    cls = getattr(importlib.import_module(module), attr)
    backend: Backend = cls(**options)
    return backend


__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "ResetOptions", "create_backend"]
