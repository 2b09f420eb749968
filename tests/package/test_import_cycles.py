"""No package under primbench.harness imports one that imports it back (imports inside functions count too)."""

import ast
from pathlib import Path

import primbench.harness

HARNESS = Path(primbench.harness.__file__).parent
PREFIX = "primbench.harness."


def package_of(module: str) -> str:
    """`primbench.harness.reports.plots` -> `reports`; a top-level module (errors, statistics) is its own node."""
    return module.removeprefix(PREFIX).split(".")[0]


def harness_imports(path: Path) -> set[str]:
    """Every primbench.harness module named by an import anywhere in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith(PREFIX)}


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in HARNESS.rglob("*.py"):
        source = package_of(PREFIX + ".".join(path.relative_to(HARNESS).with_suffix("").parts))
        for name in harness_imports(path):
            target = package_of(name)
            if target != source and ((HARNESS / target).is_dir() or (HARNESS / f"{target}.py").is_file()):
                graph.setdefault(source, set()).add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one node (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_harness_packages_import_each_other_in_one_direction_only():
    graph = package_graph()
    assert {"analysis", "reports", "comparison", "reproduce", "evaluation"} <= set(graph)
    assert cycles(graph) == []


def test_the_walker_sees_a_cycle_when_there_is_one():
    assert cycles({"reports": {"reproduce"}, "reproduce": {"reports", "analysis"}, "analysis": set()}) == [
        ["reports", "reproduce"]
    ]
    assert "statistics" in package_graph()["reports"]  # imports inside modules and functions are both seen
