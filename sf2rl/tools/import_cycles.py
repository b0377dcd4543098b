"""Import cycles in the packages, lazy and type-only imports included: ``python -m sf2rl.tools.import_cycles``.

`make lint` runs it over ``sf2rl`` and ``emulator_worker``; it prints each cycle and exits 1 if
there is one. A cycle under ``TYPE_CHECKING`` still counts: two modules that need each other's
types are one concept split in two (the simulator types a match by a Protocol instead).
"""

from __future__ import annotations

import sys

import grimp


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in graph.modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def main(argv: list[str] | None = None) -> int:
    """Exit 1 and list the cycles if the named packages (default sf2rl, emulator_worker) have any."""
    packages = (argv if argv is not None else sys.argv[1:]) or ["sf2rl", "emulator_worker"]
    found = cycles(grimp.build_graph(*packages, exclude_type_checking_imports=False))
    for cycle in found:
        print("import cycle: " + " <-> ".join(cycle))
    if not found:
        print(f"no import cycles in {', '.join(packages)} (lazy and type-only imports included)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
