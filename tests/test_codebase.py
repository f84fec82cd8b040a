"""Rules of the codebase's shape (STYLE.md), checked on the source: where DRF lives, import cycles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "controlplane"


def modules() -> dict[str, Path]:
    """Every module of the control plane (migrations aside), by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def parsed(path: Path) -> ast.Module:
    """The module's syntax tree. CPython 3.11 keeps the AST converter's recursion depth in the
    interpreter's state, not the thread's, so ``ast.parse`` here can fail with "AST constructor
    recursion depth mismatch" while another thread of the test session formats a traceback (3.11's
    traceback module parses the failing line's source); a second parse starts the count afresh."""
    source = path.read_text()
    try:
        return ast.parse(source)
    except SystemError:
        return ast.parse(source)


def imported(name: str, path: Path) -> Iterator[str]:
    """Names imported anywhere in the module (inside functions too), relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target in imported(name, path):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def app_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_only_the_api_app_imports_django_rest_framework():
    outside = [
        name
        for name, path in modules().items()
        if app_of(name) != "api"
        and any(target.split(".")[0] in {"rest_framework", "drf_spectacular"} for target in imported(name, path))
    ]
    assert outside == []


def test_no_app_imports_the_api():
    graph = import_graph()
    importers = sorted(
        name
        for name, targets in graph.items()
        if app_of(name) != "api" and any(app_of(target) == "api" for target in targets)
    )
    assert importers == []


def test_no_import_cycle_spans_two_apps():
    spanning = [sorted(c) for c in cycles(import_graph()) if len({app_of(module) for module in c}) > 1]
    assert spanning == []


def test_rollout_event_names_are_written_only_in_the_actions_table():
    """``rollouts/actions.py`` is the one home of the webhook events of rollouts (issue 10)."""
    from controlplane.rollouts.actions import EVENTS

    home = PACKAGE / "rollouts" / "actions.py"
    elsewhere = sorted(
        f"{path.relative_to(ROOT)}: {event}"
        for path in modules().values()
        if path != home
        for event in EVENTS
        if f'"{event}"' in path.read_text()
    )
    assert elsewhere == []


MAX_MODULE_LINES = 500


def test_no_module_of_the_control_plane_or_the_sdk_is_over_500_lines():
    """STYLE.md: modules under ~500 lines, so a newcomer can read one at once (migrations aside)."""
    sdk = sorted((ROOT / "sdk" / "flagplane").rglob("*.py"))
    long = sorted(
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in [*modules().values(), *sdk]
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    )
    assert long == []
