"""The shape of the code, read from the source with `ast` (README "Architecture", docs/architecture.md).

- Layers: each package may import only the layers listed for it in `MAY_IMPORT`, an import inside a
  function counting as much as one at the top (a late import is still a dependency).
- Only `app.py` and `ui/` import Chainlit.
- No import cycles between modules: the imports Python runs while loading a module (its top level,
  outside functions and `if TYPE_CHECKING:`) must form a graph without strongly connected components.
  The imports inside functions are checked too, against the cycles known today (`KNOWN_LATE_CYCLES`).
- A module over `MAX_LINES` lines says why at its top: its docstring has a sentence "Long because …".

Each checker is a plain function over a graph {module: {imported modules}}, so the self-tests at the end
feed it made-up graphs with a violation and see it caught.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["ui", "agent", "tools", "api", "jobs", "proposals", "dataio", "db", "core", "worker", "cli", "bench"]
MAX_LINES = 300

# From the top down: app.py → ui → agent → tools → jobs / proposals (→ dataio) → db → core. `api` sits
# beside `tools` (the REST door to the same layers); `worker` runs the jobs; `cli` and `bench` are
# entry points that start anything below the chat. A layer never imports one above it or a peer.
_BELOW_UI = {"agent", "tools", "api", "jobs", "proposals", "dataio", "db", "core", "worker"}
MAY_IMPORT: dict[str, set[str]] = {
    "app": {"ui", "api", "core"},  # app.py wires Chainlit's hooks to ui/ and mounts the REST API
    "ui": {"agent", "tools", "api", "jobs", "proposals", "db", "core"},  # api: the login cookie (api/auth.py)
    "agent": {"tools", "core"},
    "tools": {"jobs", "proposals", "dataio", "db", "core"},
    "api": {"jobs", "proposals", "dataio", "db", "core"},
    "jobs": {"db", "core"},
    "proposals": {"dataio", "db", "core"},  # the one apply path imports an uploaded file's rows
    "dataio": {"db", "core"},
    "db": {"core"},
    "core": set(),
    "worker": {"jobs", "db", "core"},
    "cli": _BELOW_UI,
    "bench": _BELOW_UI,
}
# Plain worker modules the jobs layer reads (the prompt and prices for an estimate, the settings for the
# key prefix): they load neither Dramatiq nor the rest of the worker.
PLAIN_WORKER = {"worker.prompt", "worker.llm", "worker.settings"}
MAY_IMPORT_MODULES: dict[str, set[str]] = {"jobs": PLAIN_WORKER}
CHAINLIT_LAYERS = {"app", "ui"}
# Edges that break the layers today, each to be removed (see the report of the change that listed it);
# a new one fails the test.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()
# import cycles through imports made inside functions, tolerated for now (none today)
KNOWN_LATE_CYCLES: list[set[str]] = []


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    docstring: str
    imports: set[str] = field(default_factory=set)  # every import, wherever it is
    load_imports: set[str] = field(default_factory=set)  # those run while the module loads


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_files() -> list[Path]:
    return [ROOT / "app.py"] + [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runs_later(node: ast.AST) -> bool:
    """A function's body runs when it is called; an `if TYPE_CHECKING:` block never does."""
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or (
        isinstance(node, ast.If) and _is_type_checking(node))


def _imported(node: ast.Import | ast.ImportFrom, package: str, known: set[str]) -> set[str]:
    """The modules an import statement names: `from a import b` is the module a.b when b is one."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    base = node.module or ""
    if node.level:  # relative: counted from the importing package
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    return {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}


def _walk(node: ast.AST, module: Module, package: str, known: set[str], at_load: bool) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            names = _imported(child, package, known)
            module.imports |= names
            if at_load:
                module.load_imports |= names
        else:
            _walk(child, module, package, known, at_load and not _runs_later(child))


def read_modules(files: list[Path] | None = None, root: Path = ROOT) -> dict[str, Module]:
    files = files or product_files()
    known = {module_name(p, root) for p in files}
    modules = {}
    for path in files:
        text = path.read_text()
        tree = ast.parse(text, str(path))
        name = module_name(path, root)
        module = Module(name, path, len(text.splitlines()), ast.get_docstring(tree) or "")
        _walk(tree, module, name if path.name == "__init__.py" else name.rpartition(".")[0], known, True)
        modules[name] = module
    return modules


def layer(module: str) -> str:
    return module.split(".")[0]


def under(module: str, top: str) -> bool:
    return module == top or module.startswith(top + ".")


# -- the checkers ------------------------------------------------------------------------------------


def layer_violations(graph: dict[str, set[str]], known: set[tuple[str, str]] = frozenset()) -> list[str]:
    """Imports of a product module that its layer may not make."""
    bad = []
    for source, targets in sorted(graph.items()):
        own = layer(source)
        for target in sorted(targets):
            other = layer(target)
            if other not in MAY_IMPORT or other == own or (source, target) in known:
                continue  # a library, or the layer's own modules
            if other in MAY_IMPORT[own] or any(under(target, ok) for ok in MAY_IMPORT_MODULES.get(own, ())):
                continue
            bad.append(f"{source} -> {target}")
    return bad


def chainlit_violations(graph: dict[str, set[str]]) -> list[str]:
    return [f"{s} -> {t}" for s, targets in sorted(graph.items()) for t in sorted(targets)
            if under(t, "chainlit") and layer(s) not in CHAINLIT_LAYERS]


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (or a module importing itself),
    Tarjan's algorithm over the product modules only."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


LONG_REASON = re.compile(r"\blong because\b", re.IGNORECASE)


def unexplained_long(modules: dict[str, Module]) -> list[str]:
    return [f"{m.name} ({m.lines} lines)" for m in modules.values()
            if m.lines > MAX_LINES and not LONG_REASON.search(m.docstring)]


# -- the code as it is -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return read_modules()


def test_modules_are_read(modules):
    """The reader sees the packages and their imports (guards against a checker that reads nothing)."""
    assert {layer(m) for m in modules} == {"app", *PACKAGES}
    assert "jobs" in modules["tools.ai"].imports
    assert "chainlit" in modules["app"].imports
    assert "core.passwords" in modules["cli.main"].imports  # a late import counts
    assert "core.passwords" not in modules["cli.main"].load_imports


def test_layers(modules):
    graph = {m.name: m.imports for m in modules.values()}
    assert layer_violations(graph, KNOWN_VIOLATIONS) == []


def test_known_violations_are_still_there(modules):
    """An exception that no longer happens is taken off the list, so it cannot come back unnoticed."""
    assert {(s, t) for s, t in KNOWN_VIOLATIONS if t in modules[s].imports} == KNOWN_VIOLATIONS


def test_plain_worker_modules_stay_plain(modules):
    """What jobs/ reads of the worker loads no queue: only other plain worker modules, db and core."""
    for name in PLAIN_WORKER:
        for target in modules[name].imports:
            assert not under(target, "dramatiq"), name
            if layer(target) == "worker":
                assert target in PLAIN_WORKER | {"worker"}, f"{name} -> {target}"
    assert "dramatiq" not in " ".join(modules["worker"].imports)  # the package itself loads nothing


def test_only_app_and_ui_know_chainlit(modules):
    assert chainlit_violations({m.name: m.imports for m in modules.values()}) == []


def test_no_import_cycles(modules):
    assert cycles({m.name: m.load_imports for m in modules.values()}) == []


def test_no_new_cycles_through_late_imports(modules):
    found = cycles({m.name: m.imports for m in modules.values()})
    assert [c for c in found if c not in KNOWN_LATE_CYCLES] == []


def test_long_modules_say_why(modules):
    assert unexplained_long(modules) == []


# -- the checkers catch what they should -------------------------------------------------------------


def test_checker_catches_an_upward_import():
    graph = {
        "db.records": {"core.settings", "sqlalchemy", "db.errors"},
        "tools.ai": {"jobs", "db.tables"},
        "jobs.fills": {"worker.settings", "db.ai_cells"},
    }
    assert layer_violations(graph) == []
    graph["db.records"].add("tools.base")  # db reaching up to the tools
    graph["agent.loop"] = {"db.engine"}  # the agent skipping its tools
    graph["jobs.fills"].add("worker.actors")  # jobs loading the queue
    graph["jobs.fills"].add("proposals.apply")  # a peer
    assert layer_violations(graph) == ["agent.loop -> db.engine", "db.records -> tools.base",
                                       "jobs.fills -> proposals.apply", "jobs.fills -> worker.actors"]
    assert layer_violations(graph, {("db.records", "tools.base")}) == [
        "agent.loop -> db.engine", "jobs.fills -> proposals.apply", "jobs.fills -> worker.actors"]


def test_checker_catches_chainlit_below_ui():
    graph = {"app": {"chainlit"}, "ui.turn": {"chainlit.context"}, "tools.base": {"chainlit.element"}}
    assert chainlit_violations(graph) == ["tools.base -> chainlit.element"]


def test_checker_catches_a_cycle():
    graph = {"a.x": {"a.y"}, "a.y": {"b.z"}, "b.z": {"c.w"}, "c.w": set(), "d": {"d"}}
    assert cycles(graph) == [{"d"}]
    graph["c.w"].add("a.x")
    assert sorted(map(sorted, cycles(graph))) == [["a.x", "a.y", "b.z", "c.w"], ["d"]]


def test_reader_tells_late_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "db"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        '"""A module."""\nfrom typing import TYPE_CHECKING\nfrom . import b\n'
        "if TYPE_CHECKING:\n    from tools import base\n"
        "def f():\n    from agent.loop import run_turn\n")
    (pkg / "b.py").write_text("\n" * (MAX_LINES + 1))
    found = read_modules([pkg / "__init__.py", pkg / "a.py", pkg / "b.py"], tmp_path)
    assert found["db.a"].imports == {"typing", "db.b", "tools", "agent.loop"}  # tools.base is no module here
    assert found["db.a"].load_imports == {"typing", "db.b"}
    assert unexplained_long(found) == [f"db.b ({MAX_LINES + 1} lines)"]
    found["db.b"].docstring = "Rows. Long because one state machine reads best in one place."
    assert unexplained_long(found) == []
