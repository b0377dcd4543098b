"""The kill rate per module of the last ``mutmut run`` (``make mutants``), as the table in docs/testing.md.

mutmut keeps one ``<module>.py.meta`` JSON file per mutated module under ``mutants/``, with the exit
code of the test run against each mutant; this reads those, so the table is exactly what mutmut saw.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255, 37}
"""Exit codes that count as killed: a failing test, a pytest error, a timeout, the type checker."""
SURVIVED = {0}


def tally(meta: Path) -> dict[str, int]:
    """Killed, survived and unchecked mutants of one module's meta file."""
    codes = json.loads(meta.read_text())["exit_code_by_key"].values()
    killed = sum(c in KILLED for c in codes)
    survived = sum(c in SURVIVED for c in codes)
    return {"mutants": len(codes), "killed": killed, "survived": survived,
            "other": len(codes) - killed - survived}  # fmt: skip


def table(root: Path) -> str:
    """A Markdown table: module, mutants, killed, survived, other (no tests, not checked), kill rate."""
    rows = ["| module | mutants | killed | survived | other | killed of tested |", "| --- " * 6 + "|"]
    for meta in sorted(root.rglob("*.py.meta")):
        t = tally(meta)
        if not t["mutants"]:
            continue
        tested = t["killed"] + t["survived"]
        rate = f"{t['killed'] / tested:.0%}" if tested else "-"
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        rows.append(f"| `{module}` | {t['mutants']} | {t['killed']} | {t['survived']} | {t['other']} | {rate} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's working folder")
    args = ap.parse_args()
    if not args.mutants.is_dir():
        raise SystemExit(f"no {args.mutants}/ folder: run `make mutants` (or `mutmut run`) first")
    print(table(args.mutants))


if __name__ == "__main__":
    main()
