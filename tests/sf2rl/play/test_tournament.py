"""`sf2rl tournament`: complete brackets and round robins with Elo tables, and bans that hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sf2rl.cli.main import main as sf2rl_main
from sf2rl.core.elo import ELO_START
from sf2rl.core.errors import ConfigError
from sf2rl.play.tournament import run_tournament

ENTRANTS = ["heuristic", "cpu-4", "random", "noop"]


def test_four_entrant_bracket_is_complete_and_bans_hold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "booth"
    args = ["tournament", *ENTRANTS, "--ban", "bison", "--ban", "zangief", "--matches", "2", "--out", str(out)]
    with pytest.raises(SystemExit) as code:
        sf2rl_main([*args, "--json", "--workers", "2"])
    assert code.value.code == 0
    report = json.loads(capsys.readouterr().out)
    semis, final = report["rounds"]
    assert len(semis) == 2 and len(final) == 1 and not any(s.get("bye") for s in semis)
    for series in semis + final:
        assert series["wins_a"] + series["wins_b"] + series["draws"] == 2
        assert series["winner"] in (series["a"], series["b"])
    assert {final[0]["a"], final[0]["b"]} == {semis[0]["winner"], semis[1]["winner"]}
    assert report["champion"] == final[0]["winner"]
    assert sorted(r["entrant"] for r in report["elo"]) == sorted(ENTRANTS)
    assert sum(r["elo"] for r in report["elo"]) == pytest.approx(len(ENTRANTS) * ELO_START)  # Elo is zero-sum
    assert sum(r["matches"] for r in report["elo"]) == 2 * report["matches_played"] == 12
    seen = {c for s in semis + final for m in s["matches"] for c in m["characters"]}
    assert seen == set(report["characters_seen"]) and not seen & {"bison", "zangief"}
    with Image.open(out / "bracket.png") as png:
        assert png.format == "PNG" and png.width > 400
    assert (out / "elo.csv").read_text().splitlines()[0] == "entrant,elo,wins,losses,draws,matches"


def test_round_robin_plays_every_pair_with_only_allowed_characters(tmp_path: Path) -> None:
    bans = ["guile", "chunli", "zangief", "bison"]
    report = run_tournament(ENTRANTS, "round-robin", 1, bans, tmp_path, seed=7, workers=1)
    pairs = {frozenset((s["a"], s["b"])) for s in report["series"]}
    assert len(pairs) == 6 and report["matches_played"] == 6
    assert set(report["characters_seen"]) <= {"ryu", "ken"}
    assert [r["elo"] for r in report["elo"]] == sorted((r["elo"] for r in report["elo"]), reverse=True)


def test_a_bracket_with_byes_still_crowns_one_champion(tmp_path: Path) -> None:
    report = run_tournament(["cpu-6", "noop", "random"], "bracket", 1, [], tmp_path, workers=1)
    first = report["rounds"][0]
    assert sum(1 for s in first if s.get("bye")) == 1 and first[0] == {**first[0], "a": "cpu-6", "bye": True}
    assert report["champion"] in {"cpu-6", "noop", "random"} and len(report["rounds"]) == 2


@pytest.mark.parametrize(
    ("entrants", "bans", "message"),
    [
        (["random", "noop"], ["akuma"], "cannot ban unknown character"),
        (["random", "random"], [], "listed twice"),
        (["random"], [], "at least two entrants"),
        (["random", "noop"], ["ryu", "ken", "guile", "chunli", "zangief", "bison"], "every character is banned"),
    ],
)
def test_bad_tournaments_are_explained(tmp_path: Path, entrants: list[str], bans: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_tournament(entrants, "bracket", 1, bans, tmp_path)


def test_results_go_to_an_mlflow_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("booth"))
    args = ["tournament", "cpu-6", "noop", "--matches", "1", "--workers", "1", "--out", str(tmp_path / "t")]
    with pytest.raises(SystemExit) as code:
        sf2rl_main([*args, "--run-id", run.info.run_id, "--tracking-uri", uri])
    assert code.value.code == 0
    assert set(client.get_run(run.info.run_id).data.metrics) == {"tournament/elo/cpu-6", "tournament/elo/noop"}
    files = {a.path for a in client.list_artifacts(run.info.run_id, "tournament")}
    assert files == {"tournament/bracket.png", "tournament/elo.csv", "tournament/results.json"}


def test_a_strong_entrant_wins_every_match_and_tops_the_elo_table(tmp_path: Path) -> None:
    # Positive control: the CPU's level-8 script against a player that never moves must win each match.
    report = run_tournament(["cpu-8", "noop"], "round-robin", 3, [], tmp_path / "t", seed=2,
                            overrides={"frame_skip": 8})  # fmt: skip
    table = {row["entrant"]: row for row in report["elo"]}
    assert table["cpu-8"]["wins"] == 3 and table["cpu-8"]["losses"] == 0
    assert table["noop"]["wins"] == 0 and table["cpu-8"]["elo"] > table["noop"]["elo"]
