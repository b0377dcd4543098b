"""`sf2rl tournament`: AI against AI in two-controller mode, as a bracket (with a picture) or a round robin.

Entrants are checkpoints or baseline names. Every series alternates sides, and
every match draws both characters from the roster minus the bans. An Elo table
is computed from all the matches played, whatever the format.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sf2rl.agents.baselines import is_baseline, is_scripted
from sf2rl.agents.factory import load_policy
from sf2rl.core import elo
from sf2rl.core.errors import ConfigError
from sf2rl.core.game.specs import get_game
from sf2rl.play.arena import MatchJob, MatchPool, MatchResult, match_config


@dataclass
class Series:
    """A head-to-head of ``a`` against ``b``; ``b`` None is a bye."""

    a: str
    b: str | None
    matches: list[MatchResult] = field(default_factory=list)

    def points(self, who: str) -> tuple[int, int, int]:
        """(wins, rounds won, health left) of ``who`` over the series."""
        wins = rounds = health = 0
        for m in self.matches:
            first = m.p1 == who
            wins += m.won if first else m.lost
            rounds += m.rounds_won if first else m.rounds_lost
            health += m.health_left if first else m.opponent_health_left
        return wins, rounds, health

    @property
    def winner(self) -> str:
        """More wins, then more rounds, then more health left; then the higher seed (``a``)."""
        if self.b is None:
            return self.a
        return self.b if self.points(self.b) > self.points(self.a) else self.a

    def as_dict(self, labels: dict[str, str]) -> dict[str, Any]:
        """JSON view with display labels."""
        if self.b is None:
            return {"a": labels[self.a], "b": None, "bye": True, "winner": labels[self.a]}
        return {
            "a": labels[self.a],
            "b": labels[self.b],
            "wins_a": self.points(self.a)[0],
            "wins_b": self.points(self.b)[0],
            "draws": sum(1 for m in self.matches if not m.won and not m.lost),
            "winner": labels[self.winner],
            "matches": [
                {
                    "p1": labels[m.p1],
                    "p2": labels[m.p2],
                    "characters": list(m.characters),
                    "winner": labels[m.p1] if m.won else labels[m.p2] if m.lost else None,
                    "rounds": [m.rounds_won, m.rounds_lost],
                }
                for m in self.matches
            ],
        }


class Tournament:
    """Plays series between entrants, in parallel, with banned characters left out."""

    def __init__(
        self,
        entrants: list[str],
        matches: int = 3,
        bans: list[str] | None = None,
        seed: int = 0,
        workers: int = 1,
        overrides: dict[str, Any] | None = None,
    ) -> None:

        if len(entrants) < 2:
            raise ConfigError("a tournament needs at least two entrants")
        if len(set(entrants)) < len(entrants):
            raise ConfigError("an entrant is listed twice; enter each checkpoint or baseline once")
        if matches < 1:
            raise ConfigError("--matches must be at least 1")
        self.entrants = entrants
        self.matches = matches
        self.seed = seed
        trained = [e for e in entrants if not is_baseline(e)]
        # Baselines have no options of their own: they play with the first checkpoint's (frame skip, action set).
        base = match_config(trained[0], overrides) if trained else match_config(entrants[0], overrides)
        # Scripted agents keep their full vocabulary, so that a mask maps onto exactly one action.
        scripted = base.model_copy(update={"action_set": "seed"})
        self.configs = {
            e: match_config(e, overrides) if e in trained else scripted if is_scripted(e) else base for e in entrants
        }
        games = {c.game for c in self.configs.values()}
        if len(games) > 1:
            raise ConfigError(f"entrants play different games: {sorted(games)}")
        roster = self.configs[entrants[0]].model_dump()

        chars = get_game(roster["game"]).characters
        unknown = sorted(set(bans or []) - set(chars))
        if unknown:
            raise ConfigError(f"cannot ban unknown character(s) {unknown}; the roster is {list(chars)}")
        self.allowed = [c for c in chars if c not in set(bans or [])]
        if not self.allowed:
            raise ConfigError("every character is banned")
        self.labels = _labels({e: load_policy(e, self.configs[e]).name for e in entrants})
        for e in entrants:  # each entrant must also be able to play player 2: fail before any match
            load_policy(e, self.configs[entrants[0]], seat="opponent")
        skips = {e: self.configs[e].frame_skip for e in trained}
        self.notes = (
            []
            if len(set(skips.values())) <= 1
            else [f"entrants trained with different frame_skip {skips}; each match runs at player 1's"]
        )
        self.played: list[MatchResult] = []
        self.pool = MatchPool(workers, remote=self.configs[entrants[0]].remote)

    def __enter__(self) -> Tournament:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.__exit__(*exc)

    def play(self, pairs: list[Series], on_result: Any = None) -> None:
        """Play every series of ``pairs`` (all at once, in parallel)."""
        jobs: list[MatchJob] = []
        owner: dict[int, Series] = {}
        for series in pairs:
            if series.b is None:
                continue
            for k in range(self.matches):
                p1, p2 = (series.a, series.b) if k % 2 == 0 else (series.b, series.a)
                rng = random.Random(f"{self.seed}|{series.a}|{series.b}|{k}")
                chars = (rng.choice(self.allowed), rng.choice(self.allowed))
                seed = rng.randrange(2**31)
                job = MatchJob(len(self.played) + len(jobs), self.configs[p1].model_dump_json(), p1, p2, seed, 3, chars)
                owner[job.index] = series
                jobs.append(job)
        for result in self.pool.run(jobs, on_result):
            owner[result.index].matches.append(result)
            self.played.append(result)

    def bracket(self, on_result: Any = None) -> list[list[Series]]:
        """Single elimination in seed order; byes fill the first round up to a power of two."""
        alive: list[str | None] = list(self.entrants)
        size = 1 << (len(alive) - 1).bit_length()
        alive += [None] * (size - len(alive))
        # Standard seeding spreads byes: seed i meets seed size-1-i.
        order = _seed_order(size)
        current: list[str | None] = [alive[i] for i in order]
        rounds: list[list[Series]] = []
        while len(current) > 1:
            pairs = [
                Series(a, b) if a is not None else Series(str(b), None)
                for a, b in zip(current[::2], current[1::2], strict=True)
            ]
            self.play(pairs, on_result)
            rounds.append(pairs)
            current = [s.winner for s in pairs]
        return rounds

    def round_robin(self, on_result: Any = None) -> list[Series]:
        """Everyone against everyone."""
        pairs = [Series(a, b) for i, a in enumerate(self.entrants) for b in self.entrants[i + 1 :]]
        self.play(pairs, on_result)
        return pairs

    def elo(self) -> list[dict[str, Any]]:
        """Elo ratings from every match, in the order played, with records."""
        rating = {e: elo.ELO_START for e in self.entrants}
        record = {e: [0, 0, 0] for e in self.entrants}
        for m in sorted(self.played, key=lambda r: r.index):
            score = 1.0 if m.won else 0.0 if m.lost else 0.5
            rating[m.p1], rating[m.p2] = elo.update(rating[m.p1], rating[m.p2], score)
            for who, s in ((m.p1, score), (m.p2, 1 - score)):
                record[who][0 if s == 1 else 1 if s == 0 else 2] += 1
        rows = [
            {
                "entrant": self.labels[e],
                "elo": round(r, 1),
                "wins": record[e][0],
                "losses": record[e][1],
                "draws": record[e][2],
                "matches": sum(record[e]),
            }
            for e, r in rating.items()
        ]
        return sorted(rows, key=lambda r: -r["elo"])

    def characters_seen(self) -> list[str]:
        """Every character that appeared in a match (read back from the game)."""
        return sorted({c for m in self.played for c in m.characters})


def _labels(names: dict[str, str]) -> dict[str, str]:
    seen: dict[str, int] = {}
    out = {}
    for source, name in names.items():
        seen[name] = seen.get(name, 0) + 1
        out[source] = name if seen[name] == 1 else f"{name}#{seen[name]}"
    return out


def _seed_order(size: int) -> list[int]:
    order = [0]
    while len(order) < size:
        n = len(order) * 2
        order = [x for s in order for x in (s, n - 1 - s)]
    return order


def draw_bracket(rounds: list[list[dict[str, Any]]], path: Path, title: str = "") -> None:
    """A PNG of the bracket: one column per round, scores in each box, the champion at the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = len(rounds[0])
    fig, ax = plt.subplots(figsize=(3.2 * (len(rounds) + 1), max(3.0, 1.3 * first)))
    ax.set_axis_off()
    box_w, box_h = 2.4, 0.8
    centres: list[list[float]] = []
    for r, series in enumerate(rounds):
        ys = (
            [(i + 0.5) * (2**r) * 1.2 for i in range(len(series))]
            if r == 0
            else [(centres[r - 1][2 * i] + centres[r - 1][2 * i + 1]) / 2 for i in range(len(series))]
        )
        centres.append(ys)
        x = r * 3.2
        for i, s in enumerate(series):
            y = ys[i]
            ax.add_patch(plt.Rectangle((x, y - box_h / 2), box_w, box_h, fill=False, lw=1.2))
            rows = [
                (s["a"], "bye" if s.get("bye") else s["wins_a"]),
                (s["b"] or "-", "" if s.get("bye") else s["wins_b"]),
            ]
            for k, (name, score) in enumerate(rows):
                weight = "bold" if name == s["winner"] else "normal"
                ty = y + (-0.18 if k == 0 else 0.18)
                ax.text(x + 0.08, ty, name[:24], va="center", fontsize=8, fontweight=weight)
                ax.text(x + box_w - 0.08, ty, str(score), va="center", ha="right", fontsize=8, fontweight=weight)
            if r + 1 < len(rounds):  # elbow to the next round's box
                mid = x + box_w + (3.2 - box_w) / 2
                nxt = (ys[i - i % 2] + ys[i - i % 2 + 1]) / 2 if i - i % 2 + 1 < len(ys) else y
                ax.plot([x + box_w, mid, mid, x + 3.2], [y, y, nxt, nxt], color="gray", lw=0.8)
    champion = rounds[-1][0]["winner"]
    x = len(rounds) * 3.2
    ax.text(x, centres[-1][0], f"champion\n{champion}", va="center", fontsize=11, fontweight="bold")
    ax.plot([x - 3.2 + box_w, x - 0.1], [centres[-1][0]] * 2, color="gray", lw=0.8)
    ax.set_xlim(-0.2, x + 3.0)
    ax.set_ylim(max(centres[0]) + 1.2, 0)  # seed 1 on top
    ax.set_title(title, fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def run_tournament(
    entrants: list[str],
    fmt: str,
    matches: int,
    bans: list[str],
    out: Path,
    seed: int = 0,
    workers: int = 1,
    overrides: dict[str, Any] | None = None,
    on_result: Any = None,
) -> dict[str, Any]:
    """Play a whole tournament and write results.json, elo.csv (and bracket.png) into ``out``."""
    with Tournament(entrants, matches, bans, seed, workers, overrides) as t:
        return _run(t, entrants, fmt, matches, bans, out, on_result)


def _run(
    t: Tournament, entrants: list[str], fmt: str, matches: int, bans: list[str], out: Path, on_result: Any
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "format": fmt,
        "entrants": [t.labels[e] for e in entrants],
        "bans": bans,
        "matches_per_series": matches,
        "notes": t.notes,
    }
    if fmt == "bracket":
        rounds = [[s.as_dict(t.labels) for s in r] for r in t.bracket(on_result)]
        report["rounds"] = rounds
        report["champion"] = rounds[-1][0]["winner"]
        draw_bracket(
            rounds,
            out / "bracket.png",
            f"{len(entrants)} entrants, {matches} matches per series, bans: {', '.join(bans) or 'none'}",
        )
    elif fmt == "round-robin":
        report["series"] = [s.as_dict(t.labels) for s in t.round_robin(on_result)]
    else:
        raise ConfigError(f"unknown format {fmt!r}; use bracket or round-robin")
    report["elo"] = t.elo()
    report["characters_seen"] = t.characters_seen()
    report["matches_played"] = len(t.played)
    (out / "results.json").write_text(json.dumps(report, indent=2))
    with (out / "elo.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(report["elo"][0]))
        writer.writeheader()
        writer.writerows(report["elo"])
    return report
