"""Roles held by PostgreSQL itself: raw SQL as a viewer reads everything of a shared workspace and changes
nothing of it (INSERT refused, UPDATE and DELETE find no row they may touch), with no code check in the way;
an editor writes; only an owner renames the workspace or changes its members."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db import accounts, tables, workspaces
from db.engine import transaction
from db.schemas import ColumnCreate


async def _people(engine, unique):
    async with transaction(None, engine=engine) as conn:
        ids = [await accounts.create_account(conn, name=f"rls{who}{unique}", password="a long passphrase")
               for who in ("owner", "editor", "viewer")]
        ws = await accounts.create_workspace(conn, owner_id=ids[0])
    owner, editor, viewer = ids
    async with transaction(owner, engine=engine) as conn:
        await workspaces.share(conn, ws["id"], account_id=editor, by=owner, role="editor")
        await workspaces.share(conn, ws["id"], account_id=viewer, by=owner, role="viewer")
        table = await tables.create_table(conn, workspace_id=ws["id"], name="Books",
                                          columns=[ColumnCreate(name="Title", type="text")])
        col = str(table.columns[0].id)
        await conn.execute(text("INSERT INTO records (table_id, workspace_id, data) VALUES (:t, :w, :d)"),
                           {"t": table.id, "w": ws["id"], "d": f'{{"{col}": "Dune"}}'})
    return owner, editor, viewer, ws, table


async def _refused(engine, account, sql, params):
    with pytest.raises(DBAPIError) as caught:
        async with transaction(account, engine=engine) as conn:
            await conn.execute(text(sql), params)
    return str(getattr(caught.value.orig, "sqlstate", "") or caught.value.orig.__cause__.sqlstate)


async def _rowcount(engine, account, sql, params) -> int:
    async with transaction(account, engine=engine) as conn:
        return (await conn.execute(text(sql), params)).rowcount


async def _state(engine, ws_id) -> tuple:
    async with transaction(None, engine=engine) as conn:
        return tuple((await conn.execute(text(
            "SELECT (SELECT name FROM workspaces WHERE id = :w), "
            "(SELECT string_agg(data::text, ',' ORDER BY id) FROM records WHERE workspace_id = :w), "
            "(SELECT string_agg(name || description, ',') FROM data_tables WHERE workspace_id = :w), "
            "(SELECT string_agg(name, ',') FROM columns WHERE workspace_id = :w), "
            "(SELECT count(*) FROM jobs WHERE workspace_id = :w), "
            "(SELECT string_agg(account_id::text || role, ',' ORDER BY account_id) FROM memberships "
            " WHERE workspace_id = :w)"), {"w": ws_id})).one())


async def test_a_viewer_reads_but_postgres_refuses_every_write(engine, unique):
    owner, editor, viewer, ws, table = await _people(engine, unique)
    p = {"t": table.id, "w": ws["id"], "c": table.columns[0].id}
    async with transaction(viewer, engine=engine) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM records WHERE table_id = :t"), p)).scalar() == 1
        assert (await conn.execute(text("SELECT name FROM data_tables WHERE id = :t"), p)).scalar() == "Books"
        assert (await conn.execute(text("SELECT count(*) FROM columns WHERE table_id = :t"), p)).scalar() == 1
        assert (await conn.execute(text("SELECT name FROM workspaces WHERE id = :w"), p)).scalar() == ws["name"]
        assert (await conn.execute(text("SELECT tc_can_write(:w)"), p)).scalar() is False
    before = await _state(engine, ws["id"])

    refused_inserts = [
        "INSERT INTO records (table_id, workspace_id, data) VALUES (:t, :w, '{}')",
        "INSERT INTO data_tables (workspace_id, name) VALUES (:w, 'Sneaky')",
        "INSERT INTO columns (table_id, workspace_id, name, type, position) VALUES (:t, :w, 'X', 'text', 9)",
        "INSERT INTO jobs (workspace_id, table_id, column_id, scope) VALUES (:w, :t, :c, '\"all\"')",
        ("INSERT INTO cell_edits (workspace_id, table_id, record_id, column_id, old_value, new_value) "
         "VALUES (:w, :t, 1, :c, '1', '2')"),
        "INSERT INTO memberships (workspace_id, account_id, role) VALUES (:w, gen_random_uuid(), 'owner')",
        "SELECT tc_set_member(:w, gen_random_uuid(), 'owner')",
        "SELECT tc_remove_member(:w, :c)",
    ]
    for sql in refused_inserts:
        assert await _refused(engine, viewer, sql, p) == "42501", sql
    silent = [
        "UPDATE records SET data = '{}' WHERE table_id = :t",
        "DELETE FROM records WHERE table_id = :t",
        "UPDATE data_tables SET name = 'Hacked' WHERE id = :t",
        "DELETE FROM data_tables WHERE id = :t",
        "UPDATE columns SET name = 'Hacked' WHERE table_id = :t",
        "DELETE FROM columns WHERE table_id = :t",
        "UPDATE workspaces SET name = 'hacked-' || name WHERE id = :w",
        "DELETE FROM workspaces WHERE id = :w",
    ]
    for sql in silent:
        assert await _rowcount(engine, viewer, sql, p) == 0, sql
    assert await _state(engine, ws["id"]) == before

    # an editor writes data and schema, but neither renames the workspace nor changes its members
    assert await _rowcount(engine, editor, "UPDATE data_tables SET description = 'kept' WHERE id = :t", p) == 1
    assert await _rowcount(engine, editor, "INSERT INTO records (table_id, workspace_id) VALUES (:t, :w)", p) == 1
    assert await _rowcount(engine, editor, "UPDATE workspaces SET name = 'hacked-' || name WHERE id = :w", p) == 0
    assert await _refused(engine, editor, "SELECT tc_set_member(:w, gen_random_uuid(), 'owner')", p) == "42501"
    # the owner does
    assert await _rowcount(engine, owner, "UPDATE workspaces SET name = 'renamed-' || name WHERE id = :w", p) == 1
