"""The deployment docs stay true to the repository: their links and paths exist, every `sf2rl` and
`emulator-worker` command in a code block uses subcommands and flags the real CLIs accept, and
commands that need a Docker engine, a cloud, Kubernetes or Windows say so."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "docs" / name
    for name in (
        "getting-started.md",
        "concepts.md",
        "cluster.md",
        "security.md",
        "troubleshooting.md",
        "training-speed.md",
        "sweeps.md",
        "champion.md",
    )
] + [ROOT / "docker" / "README.md", ROOT / "infra" / "windows" / "README.md"]
MARKERS = ("(Docker)", "(cloud)", "(Kubernetes)", "(Windows)")
NEEDS_MARKER = re.compile(r"^(docker |kubectl |helm |ray (up|down|dashboard|attach) |curl .*:5000)")
REPO_PATH = re.compile(r"(?<![\w/.-])((?:docker|infra|sweeps|docs|tests)/[\w./-]*\w)")


def _id(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def code_lines(text: str) -> list[str]:
    """Logical lines of the fenced bash/powershell blocks (backslash continuations joined)."""
    lines: list[str] = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.strip().startswith("#"):
                lines.append(line.strip())
    return lines


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.fixture(scope="module")
def clis() -> dict[str, dict[str, argparse.ArgumentParser]]:
    from emulator_worker.cli import build_parser as worker_parser
    from sf2rl.cli.main import build_parser as sf2rl_parser

    return {"sf2rl": subparsers(sf2rl_parser()), "emulator-worker": subparsers(worker_parser())}


@pytest.mark.parametrize("doc", DOCS, ids=_id)
def test_links_and_paths_exist(doc: Path) -> None:
    text = doc.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (doc.parent / target).exists(), f"{_id(doc)}: broken link {target}"
    for path in REPO_PATH.findall(text):
        if "*" in path or "<" in path:
            continue
        assert (ROOT / path).exists() or (ROOT / path).parent.is_dir(), f"{_id(doc)}: no such path {path}"


@pytest.mark.parametrize("doc", DOCS, ids=_id)
def test_cli_commands_use_real_subcommands_and_flags(doc: Path, clis: dict) -> None:
    for line in code_lines(doc.read_text()):
        command = line.split("#", 1)[0]
        words = shlex.split(command.split("|")[0].split("&&")[-1].split(" -- ")[-1])
        if not words:
            continue
        program = Path(words[0]).name
        if program not in clis:
            continue
        sub = clis[program].get(words[1])
        assert sub is not None, f"{_id(doc)}: unknown command {program} {words[1]}"
        options = {o for a in sub._actions for o in a.option_strings}
        for word in words[2:]:
            if word.startswith("--"):
                assert word.split("=")[0] in options, f"{_id(doc)}: {program} {words[1]} has no {word}"


@pytest.mark.parametrize("doc", [d for d in DOCS if d.parent.name == "docs"], ids=_id)
def test_commands_needing_more_than_a_laptop_are_marked(doc: Path) -> None:
    for line in code_lines(doc.read_text()):
        if NEEDS_MARKER.match(line):
            assert any(m in line for m in MARKERS), f"{_id(doc)}: unmarked command: {line}"


def test_docs_cover_the_errors_the_code_raises() -> None:
    # Each error type a user meets has an entry, by the name the code gives it.
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    for name in ("WorkerUnavailableError", "VersionMismatch", "NoCapacity", "InstanceCrashed", "LeaseError",
                 "BackendUnavailable", "unknown key", "python -m stable_retro.import", "RAY_AUTH_MODE=disabled",
                 "database is locked", "Address already in use", "Unable to set up cluster storage",
                 "Invalid Host header"):  # fmt: skip
        assert name in text, name
    from emulator_worker.protocol import ErrorType

    for etype in (ErrorType.VERSION_MISMATCH, ErrorType.NO_CAPACITY, ErrorType.INSTANCE_CRASHED, ErrorType.LEASE):
        assert f"{etype.value}:" in text, etype
