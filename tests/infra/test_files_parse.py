"""Every YAML and JSON file under docker/ and infra/ parses, and the YAML passes yamllint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER, INFRA = ROOT / "docker", ROOT / "infra"

YAML_FILES = sorted(p for d in (DOCKER, INFRA) for p in d.rglob("*") if p.suffix in (".yaml", ".yml"))
# JSON files are few (none yet): they are checked with the YAML in one parametrized test.
DATA_FILES = YAML_FILES + sorted(p for d in (DOCKER, INFRA) for p in d.rglob("*.json"))


def test_there_is_something_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in YAML_FILES}
    assert {
        "docker/compose.yaml",
        "infra/ray-cluster.yaml",
        "infra/kuberay/raycluster.yaml",
        "infra/kuberay/rayjob.yaml",
    } <= names


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_data_file_parses(path: Path) -> None:
    text = path.read_text()
    docs = [json.loads(text)] if path.suffix == ".json" else list(yaml.safe_load_all(text))
    assert any(d is not None for d in docs), f"{path} is empty"
    for doc in docs:
        assert doc is None or isinstance(doc, dict), f"{path}: a document is a {type(doc).__name__}"


def test_yaml_is_lint_clean() -> None:
    # The repository's .yamllint applies (line length 120, no document-start marker required).
    targets = [str(p) for p in (DOCKER, INFRA, ROOT / ".yamllint", ROOT / ".hadolint.yaml")]
    out = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", *targets], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_broken_file_would_be_caught(tmp_path: Path) -> None:
    # The checks above are only worth something if a real mistake fails them.
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  mlflow:\n    image: [unclosed\n")
    with pytest.raises(yaml.YAMLError):
        list(yaml.safe_load_all(bad.read_text()))
    out = subprocess.run(
        [sys.executable, "-m", "yamllint", "-c", str(ROOT / ".yamllint"), str(bad)], capture_output=True, text=True
    )
    # Failing is not enough (a missing config or yamllint fails too): it must name the syntax error.
    assert out.returncode == 1 and "syntax error" in out.stdout and str(bad) in out.stdout, out.stdout + out.stderr
    # And the repository's config is what ran: a rule of its own (line length 120) reports a long line.
    long = tmp_path / "long.yaml"
    long.write_text(f"key: {'x' * 130}\n")
    out = subprocess.run(
        [sys.executable, "-m", "yamllint", "-c", str(ROOT / ".yamllint"), str(long)], capture_output=True, text=True
    )
    assert "(line-length)" in out.stdout and "> 120" in out.stdout, out.stdout + out.stderr
