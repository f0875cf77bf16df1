"""The layout is the architecture: the import graph of coach/ (lazy imports and TYPE_CHECKING
ones included) has no cycle, and no layer imports a layer above it.

    base      coach, coach.errors
    api       the control socket's typed API (pure types and the codec): base only
    core      pure logic: imports nothing of ours but base and api
    adapters, config, sim    the edges, the files, the simulated patient: base and core only
    report    the therapist's pages: also adapters and config
    console   the therapists' HTTPS console (its own process): also adapters and config
    clinic    the clinic store of a practice (the console's data on it, the clinic link): also
              adapters, config, report and console
    app       the wiring and the entry points: anything; nothing imports coach.app.cli
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "coach"
LAYERS = {"base": 0, "api": 1, "core": 2, "adapters": 3, "config": 3, "sim": 3, "report": 4, "console": 4, "clinic": 4,
          "app": 5}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str) -> set[str]:
    """Every coach module `path` imports, wherever the import statement stands."""
    found = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "coach"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # a relative import: from the package, `level` steps up
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.split(".")[0] != "coach":
                continue
            for alias in node.names:   # `from coach.config import paths` imports the module paths
                module = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / module.replace(".", "/")).with_suffix(".py").exists()
                found.add(module if is_module else base)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path, name) if m in modules and m != name} for name, path in modules.items()}


def area(module: str) -> str:
    """core, adapters, config, sim, report, app, or base (coach itself and coach.errors)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] == "errors":
        return "base"
    return "app" if parts[1] == "__main__" else parts[1]


def layer(module: str) -> int:
    return LAYERS[area(module)]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_no_layer_imports_a_layer_above_it():
    upward = [f"{a} -> {b}" for a, targets in graph().items() for b in targets if layer(b) > layer(a)]
    assert upward == []


def test_the_edges_do_not_import_each_other():
    """adapters, config and sim stand side by side: none imports another (only core below them)."""
    side = {"adapters", "config", "sim"}
    crossing = [f"{a} -> {b}" for a, targets in graph().items() for b in targets
                if area(a) != area(b) and {area(a), area(b)} <= side]
    assert crossing == []


def test_the_console_knows_nothing_of_the_clinic_store():
    """The console's pages work on its data protocols (coach/console/data.py); which store is
    behind them is chosen by the entry point (coach/app), so a box alone runs no clinic code."""
    assert [f"{a} -> {b}" for a, targets in graph().items() for b in targets
            if area(a) == "console" and area(b) == "clinic"] == []


def test_nothing_imports_the_command_line():
    assert [a for a, targets in graph().items() if "coach.app.cli" in targets and a != "coach.__main__"] == []


def test_the_graph_sees_lazy_imports():
    """A function-level import counts as much as one at the top (they hid the old cycles)."""
    edges = graph()
    assert "coach.app.simulate" in edges["coach.app.cli"]   # imported inside cmd_run


def test_events_are_built_in_one_place():
    """Every event is a value of coach/core/events.py; no other module builds one as a dict."""
    builders = [f"{path.relative_to(ROOT)}:{number}" for path in PACKAGE.rglob("*.py")
                if path.name != "events.py"
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if re.search(r"""\{\s*["']type["']\s*:""", line)]
    assert builders == []


def test_the_daemons_side_never_imports_the_console():
    """The console is a client of the daemon's socket (as Moonraker is of klippy): nothing the
    daemon runs imports it. Only the command line that starts the console does (its clinic part
    chooses the console's data)."""
    command_line = ("coach.app.cli", "coach.app.clinic_cli")
    daemons_side = [f"{a} -> {b}" for a, targets in graph().items() for b in targets
                    if b.startswith("coach.console") and area(a) in ("core", "api", "adapters", "config", "sim")
                    or b.startswith("coach.console") and area(a) == "app" and a not in command_line]
    assert daemons_side == []


def test_the_benchmarks_do_not_import_the_tests():
    """bench/ measures the product with its own harness (coach/sim), not the tests' fixtures."""
    found = [f"{path.relative_to(ROOT)}: {name}" for path in (ROOT / "bench").rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.ImportFrom | ast.Import)
             for name in ([node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names])
             if name.split(".")[0] == "tests"]
    assert found == []
