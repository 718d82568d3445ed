"""The `tablechat` command's modules: commands import their shared helpers from `cli.common`, and
`cli.main` only assembles them, so no module of `cli/` imports `cli.main` back."""

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "cli"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_command_module_imports_main():
    modules = [p for p in CLI.glob("*.py") if p.name not in ("main.py", "__init__.py")]
    assert modules
    for path in modules:
        assert not {m for m in _imports(path) if m == "cli.main" or m.startswith("cli.main.")}, path.name


def test_every_command_module_is_registered():
    from cli.main import COMMANDS, build_parser

    registered = {fn.__module__ for fn in COMMANDS}
    with_register = {f"cli.{p.stem}" for p in CLI.glob("*.py") if "def register(" in p.read_text()}
    assert with_register == registered
    choices = next(a for a in build_parser()._actions if a.choices and "run" in a.choices).choices
    assert {"import", "export", "worker"} <= set(choices)
