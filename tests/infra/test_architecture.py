"""The design the code promises: one-way layers, no import cycles, light commands, and an honest module map."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from sf2rl.tools.import_cycles import cycles as _cycles

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sf2rl", "emulator_worker")


def test_cycles_finds_every_cycle_and_nothing_else() -> None:
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"), ("p.e", "p.f"), ("p.f", "p.e")):
        graph.add_import(importer=a, imported=b)
    graph.add_module("p.lonely")
    assert sorted(_cycles(graph)) == [["p.a", "p.b", "p.c"], ["p.e", "p.f"]]


def test_the_lint_step_fails_on_a_type_only_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from sf2rl.tools.import_cycles import main

    pkg = tmp_path / "cyclic_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "game.py").write_text("from cyclic_pkg import render\n")
    (pkg / "render.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyclic_pkg.game import Game\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["cyclic_pkg"]) == 1
    assert "cyclic_pkg.game <-> cyclic_pkg.render" in capsys.readouterr().out


def test_no_import_cycles_lazy_and_type_only_imports_included() -> None:
    # grimp sees imports inside functions too: a lazy import cannot hide a cycle. Type-only imports
    # (under TYPE_CHECKING) count as well: a cycle mypy needs is still two modules that know each
    # other (the simulator's RAM writer, renderer and save states type a match by a Protocol instead).
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    assert _cycles(graph) == []


def test_the_layer_contract_holds() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "3 kept, 0 broken" in out.stdout


# Each command, in a fresh interpreter: which heavy frameworks did it load?
LIGHT = """
import sys
from sf2rl.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in ("ray", "ray.rllib", "torch") if m in sys.modules)
print("HEAVY", ",".join(heavy), "EXIT", code)
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow store holding one experiment with no checkpoints: `sf2rl best` fails fast on it."""
    import mlflow

    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    client.create_experiment("empty")
    return uri


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [
        (["validate", str(ROOT / "sweeps" / "quickstart.yaml")], 0),
        (["best", "empty", "--tracking-uri", "URI", "--out", "OUT"], 2),
        (["eval", "heuristic", "--level", "1", "--matches", "1", "--workers", "1", "--json"], 0),
    ],
    ids=["validate", "best", "eval-baseline"],
)
def test_light_commands_import_neither_rllib_nor_torch(
    argv: list[str], exit_code: int, experiment: str, tmp_path: Path
) -> None:
    argv = [a.replace("URI", experiment).replace("OUT", str(tmp_path / "out")) for a in argv]
    out = subprocess.run(
        [sys.executable, "-c", LIGHT, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    last = [line for line in out.stdout.splitlines() if line.startswith("HEAVY")]
    assert last, out.stderr[-2000:]
    assert last[-1] == f"HEAVY  EXIT {exit_code}", out.stderr[-2000:]


def _modules(package: str) -> set[str]:
    return {
        str(p.relative_to(ROOT))
        for p in (ROOT / package).rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and "__pycache__" not in p.parts
    }


def test_architecture_md_lists_every_sf2rl_module_and_names_only_real_paths() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`((?:sf2rl|emulator_worker)/[\w/]+(?:\.py|\.lua|/))`", text))
    assert named, "ARCHITECTURE.md names no module paths"
    missing = sorted(_modules("sf2rl") - named)
    assert missing == [], f"ARCHITECTURE.md does not place these modules: {missing}"
    for path in named:
        assert (ROOT / path).exists(), f"ARCHITECTURE.md names {path}, which does not exist"
    top_level = {p for p in _modules("emulator_worker") if p.count("/") == 1}
    assert top_level <= named
    subpackages = {
        f"emulator_worker/{d.name}/" for d in (ROOT / "emulator_worker").iterdir() if (d / "__init__.py").exists()
    }
    assert subpackages <= named
