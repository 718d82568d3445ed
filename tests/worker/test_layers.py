"""The direction of the dependencies between the fill layers (docs/jobs.md): tools / api → jobs → db,
worker → jobs / db. Read from the source with `ast`, so a late import inside a function counts too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# plain modules of the workers the jobs layer reads: the prompt and prices (the estimate), the key prefix
JOBS_MAY_READ = {"worker.prompt", "worker.llm", "worker.settings"}


def imports(package: str) -> list[tuple[str, str]]:
    """(file, imported module) for every import in the package's files."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from worker import prompt` reads worker.prompt: the names say what is imported
                found += [(str(path.relative_to(ROOT)), f"{node.module}.{a.name}") for a in node.names]
    return found


def under(module: str, top: str) -> bool:
    return module == top or module.startswith(top + ".")


def test_db_imports_neither_jobs_nor_worker():
    assert [(f, m) for f, m in imports("db") if under(m, "jobs") or under(m, "worker")] == []


def test_db_names_no_queue_or_actor():
    names = {"fill_rows", "preview_rows", "dramatiq"}
    found = [(str(p.relative_to(ROOT)), n) for p in (ROOT / "db").rglob("*.py") for n in names
             if n in p.read_text().casefold()]
    assert found == []


def test_jobs_reads_only_plain_worker_modules():
    bad = [(f, m) for f, m in imports("jobs") if under(m, "worker") and not any(under(m, ok) for ok in JOBS_MAY_READ)]
    assert bad == []


@pytest.mark.parametrize("package", ["tools", "api"])
def test_tools_and_api_go_through_jobs(package):
    assert [(f, m) for f, m in imports(package) if under(m, "worker")] == []


@pytest.mark.parametrize("package", ["tools"])
def test_tools_leave_the_storage_layout_to_db(package):
    """No SQL on `records` in the tools: the layout of rows (the JSONB `data` and `meta`) is db's."""
    found = [str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py") if "FROM records" in p.read_text()]
    assert found == []
