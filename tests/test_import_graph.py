"""The search road's import graph has no circle: no module imports (at load or at run time) one that imports it back.

Imports under ``if TYPE_CHECKING:`` are for annotations only and do not count. The graph is read from the
source with ``ast``, so a circle hidden inside a function (a run-time import) counts as much as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nasforge

ROOT = Path(nasforge.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        edges[name] = {m for m in _imports(ast.parse(path.read_text())) if m in modules and m != name}
    return edges


def cycles(edges: dict[str, set[str]], within: str) -> list[list[str]]:
    """Every circle through modules whose name starts with ``within`` (depth-first search, one report each)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if not nxt.startswith(within):
                continue
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node.startswith(within) and node not in state:
            visit(node, [node])
    return found


def test_the_graph_sees_a_circle_when_there_is_one():
    edges = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert cycles(edges, "a.") == [["a.x", "a.y", "a.z", "a.x"]]


def test_the_search_road_has_no_import_circle():
    edges = graph()
    road = {"nasforge.search", "nasforge.trial", "nasforge.benchmarks.blackbox"}
    assert {"nasforge.search.loop", "nasforge.search.study", "nasforge.search.storage"} <= set(edges)
    circles = [c for c in cycles(edges, "nasforge.") if any(m.startswith(tuple(road)) for m in c)]
    assert circles == []


def test_the_old_modules_are_gone():
    for old in ("study", "async_search", "evaluators", "executors", "compare"):
        assert not (ROOT / f"{old}.py").exists()
