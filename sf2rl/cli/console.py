"""The terminal console every command prints through (stderr, so stdout stays for --json and paths)."""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True, soft_wrap=True)
