"""The house rules that DESIGN.md states, checked on the source: the import graph has no
circle and no import that climbs a floor, no function in ``ocg_jax/`` is over 80 lines and
no file over 500.  ``python tests/test_house.py`` prints the figures.

Every import counts, those inside functions too (a lazy import still ties two modules).
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ocg_jax"
MAX_FUNCTION_LINES = 80
MAX_FILE_LINES = 500

#: each part of the package and the parts it may import (itself always)
MAY_IMPORT = {
    "platform": set(),
    "specs": set(),
    "metrics": set(),
    "nn": {"platform", "specs"},
    "objectives": {"nn", "specs"},
    "viz": {"specs", "metrics"},
    "data": {"specs"},
    "models": {"nn", "objectives", "metrics", "viz", "specs"},
    "train": {"models", "data", "objectives", "metrics", "viz", "specs", "nn", "platform"},
    "analysis": {
        "train",
        "models",
        "data",
        "objectives",
        "metrics",
        "viz",
        "specs",
        "nn",
        "platform",
    },  # fmt: skip
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, known) -> str | None:
    """The longest known module that ``name`` (a dotted import target) lies in."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """``module -> the ocg_jax modules it imports`` (anywhere in the file)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                if t.startswith("ocg_jax"):
                    target = _resolve(t, mods)
                    if target and target != name:
                        found.add(target)
        graph[name] = found
    return graph


def part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def climbing_imports(graph) -> list[str]:
    """Imports of a part that the part may not import (``MAY_IMPORT``)."""
    out = []
    for mod, targets in graph.items():
        p = part(mod)
        for t in sorted(targets):
            q = part(t)
            if p and q and q != p and q not in MAY_IMPORT.get(p, set()):
                out.append(f"{mod} -> {t}")
    return out


def circles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def function_lengths() -> list[tuple[int, str]]:
    """``(lines, "module:function")`` for every function and method, longest first."""
    out = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append((node.end_lineno - node.lineno + 1, f"{name}:{node.name}"))
    return sorted(out, reverse=True)


def file_lengths() -> list[tuple[int, str]]:
    return sorted(
        ((len(p.read_text().splitlines()), n) for n, p in _modules().items()), reverse=True
    )


def test_no_circle_in_the_import_graph():
    assert circles(import_graph()) == []


def test_no_import_climbs_a_floor():
    assert climbing_imports(import_graph()) == []


def test_functions_and_files_are_small():
    long = [f"{n} ({k} lines)" for k, n in function_lengths() if k > MAX_FUNCTION_LINES]
    big = [f"{n} ({k} lines)" for k, n in file_lengths() if k > MAX_FILE_LINES]
    assert long == [] and big == []


def test_every_part_is_placed_on_a_floor():
    assert {part(m) for m in import_graph()} - {""} <= set(MAY_IMPORT)


if __name__ == "__main__":
    g = import_graph()
    print(f"{len(g)} modules, {sum(map(len, g.values()))} imports")
    print("circles:", circles(g) or "none")
    print("climbing:", *(climbing_imports(g) or ["none"]), sep="\n  ")
    print("longest functions:", *[f"{k:4d} {n}" for k, n in function_lengths()[:10]], sep="\n  ")
    print("longest files:", *[f"{k:4d} {n}" for k, n in file_lengths()[:5]], sep="\n  ")
    sys.exit(0)
