"""What the fill layers leave to each other (docs/jobs.md), read from the source text. Who may import
whom (tools / api → jobs → db, worker → jobs / db, jobs reading only plain worker modules) is checked
with the other layers in tests/test_architecture.py."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_db_names_no_queue_or_actor():
    names = {"fill_rows", "preview_rows", "dramatiq"}
    found = [(str(p.relative_to(ROOT)), n) for p in (ROOT / "db").rglob("*.py") for n in names
             if n in p.read_text().casefold()]
    assert found == []


@pytest.mark.parametrize("package", ["tools"])
def test_tools_leave_the_storage_layout_to_db(package):
    """No SQL on `records` in the tools: the layout of rows (the JSONB `data` and `meta`) is db's."""
    found = [str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py") if "FROM records" in p.read_text()]
    assert found == []
