"""Every file of the bad corpus (bad_corpus.py) through every import path: `tablechat import` (new table and
--into), the REST imports (new table and into a table) and a chat upload. Each is refused with a message
naming the file and what is wrong, and nothing is created: no table, no row, no job, no proposal, no
kept upload."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from bad_corpus import bad_corpus
from sqlalchemy import text

from core.settings import get_settings
from db import tables
from db.engine import transaction
from db.schemas import ColumnCreate
from tools import imports

DRIVER = """
import contextlib, io, json, sys
from cli.main import main
out = []
for path in sys.argv[3:]:
    for extra in ([], ["--into", sys.argv[2]]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as std:
            rc = main(["import", path, "--user", sys.argv[1], *extra])
        out.append({"path": path, "into": bool(extra), "rc": rc, "stderr": err.getvalue(), "stdout": std.getvalue()})
print(json.dumps(out))
"""


def test_the_corpus_is_big_enough():
    assert len(bad_corpus()) >= 30


async def counts(engine) -> dict[str, int]:
    async with transaction(None, engine=engine) as conn:
        found = {}
        for name in ("data_tables", "columns", "records", "jobs", "proposals", "changes"):
            found[name] = (await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one()
        return found


@pytest.fixture
async def target(engine, owner):
    """A table of the owner's that files may be imported into."""
    async with transaction(owner.id, engine=engine) as conn:
        return await tables.create_table(conn, workspace_id=owner.workspace_id, name="Target", columns=[
            ColumnCreate(name="Name", type="text"), ColumnCreate(name="Score", type="number")])


def refused(message: str, name: str) -> str | None:
    """Why a refusal message is not good enough, or None."""
    expected = bad_corpus()[name][1]
    if name not in message:
        return f"{name}: the message does not name the file: {message!r}"
    if expected.lower() not in message.lower():
        return f"{name}: {expected!r} not in {message!r}"
    if "Traceback" in message:
        return f"{name}: a traceback: {message!r}"
    return None


async def test_the_cli_refuses_every_bad_file(database_url, engine, owner, target, tmp_path):
    paths = []
    for name, (data, _) in bad_corpus().items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    before = await counts(engine)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", DRIVER, owner.name, str(target.id), *paths], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=root), capture_output=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    runs = json.loads(done.stdout)
    assert len(runs) == 2 * len(bad_corpus())
    problems = []
    for run in runs:
        name = os.path.basename(run["path"])
        if run["rc"] != 1 or run["stdout"] or not run["stderr"].startswith("error: "):
            problems.append(f"{name} (into={run['into']}): rc {run['rc']}, stdout {run['stdout']!r}")
        elif why := refused(run["stderr"], name):
            problems.append(why)
    assert not problems, "\n".join(problems)
    assert await counts(engine) == before


async def test_the_rest_api_refuses_every_bad_file(client, engine, owner, target):
    before = await counts(engine)
    problems = []
    for name, (data, _) in bad_corpus().items():
        for path in ("/tables/import", f"/tables/{target.id}/import"):
            r = await client.post(path, files={"file": (name, data)}, headers=owner.headers)
            error = r.json().get("error") or {}
            if r.status_code not in (413, 422) or error.get("code") not in ("bad_file", "file_too_large"):
                problems.append(f"{name} {path}: {r.status_code} {r.text[:300]}")
            elif why := refused(error["message"], name):
                problems.append(why)
    assert not problems, "\n".join(problems)
    assert await counts(engine) == before


async def test_a_chat_upload_of_every_bad_file_is_refused(engine, owner, tmp_path, monkeypatch):
    monkeypatch.setenv("TABLECHAT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    before = await counts(engine)
    problems = []
    try:
        for name, (data, _) in bad_corpus().items():
            (tmp_path / "in").mkdir(exist_ok=True)
            source = tmp_path / "in" / name
            source.write_bytes(data)  # Chainlit hands the handler a path to the uploaded file
            try:
                up = imports.receive_upload(owner.id, name, source)
            except imports.BadFile as exc:
                if why := refused(exc.message, name):
                    problems.append(why)
            else:
                problems.append(f"{name}: accepted as {up}")
    finally:
        get_settings.cache_clear()
    assert not problems, "\n".join(problems)
    uploads = tmp_path / "uploads"
    assert not uploads.exists() or not [p for p in uploads.rglob("*") if p.is_file()]
    assert await counts(engine) == before
