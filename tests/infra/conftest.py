"""Fixtures for the deployment checks (no Docker engine, no cloud, no cluster needed)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker/compose.yaml, parsed."""
    return yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())


VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def compose_interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR-default}; $$ is a literal $."""
    if isinstance(value, dict):
        return {k: compose_interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [compose_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, op, default = m.group(1), m.group(2), m.group(3) or ""
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env.get(name, default)
        return env.get(name, "")

    return "$".join(VAR.sub(sub, part) for part in value.split("$$"))


@pytest.fixture(scope="session")
def interpolate() -> Callable[[Any, dict[str, str]], Any]:
    """Compose-style ${VAR:-default} substitution over a parsed compose value."""
    return compose_interpolate
