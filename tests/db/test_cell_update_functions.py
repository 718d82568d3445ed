"""The functions behind every cell update (migration 0009): the input hash keeps its first definition's
values; the change feed says the same of an update whatever its size, on one connection whose cached
plan was made for a single row, and reports every cell whose value or state changed."""

import importlib
import json

from sqlalchemy import text

from db import accounts, records, tables
from db.engine import transaction
from db.schemas import ColumnCreate

CHEAPER = importlib.import_module("db.migrations.versions.0009_cheaper_cell_updates")

# the definition of revision 0004, as a query
FIRST_HASH = text(
    "SELECT md5(coalesce((SELECT jsonb_agg(CAST(:data AS jsonb) -> d ORDER BY o) "
    " FROM unnest(CAST(:deps AS text[])) WITH ORDINALITY AS x(d, o)), '[]'::jsonb)::text)"
)
HASH = text("SELECT tc_input_hash(CAST(:data AS jsonb), CAST(:deps AS text[]))")


async def test_the_input_hash_has_the_values_of_its_first_definition(engine):
    cases = [
        ({"a": "Acme", "b": "makes anvils"}, ["a", "b"]),
        ({"a": "Acme", "b": "makes anvils"}, ["b", "a"]),
        ({"a": None}, ["a", "b"]),
        ({}, []),
        ({"a": 1}, []),
        ({"a": [1, {"x": "ü ✓"}], "b": 2.5, "c": True}, ["c", "a", "b", "a"]),
        ({"a": ""}, ["missing"]),
    ]
    async with transaction(None, engine=engine) as conn:
        for data, deps in cases:
            params = {"data": json.dumps(data), "deps": deps}
            got = (await conn.execute(HASH, params)).scalar_one()
            assert got == (await conn.execute(FIRST_HASH, params)).scalar_one(), (data, deps)
        differs = {(await conn.execute(HASH, {"data": json.dumps(d), "deps": ["a", "b"]})).scalar_one()
                   for d in ({"a": 1, "b": 2}, {"a": 2, "b": 1}, {"a": 1}, {"b": 1})}
    assert len(differs) == 4


async def test_the_feed_of_small_and_large_updates_is_the_same(engine, unique):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"feed{unique}", password="pw-12345678")
        ws = (await accounts.create_workspace(conn, owner_id=acc))["id"]
    rows = CHEAPER.SMALL_UPDATE * 2 + 50
    async with transaction(acc, engine=engine) as conn:
        t = await tables.create_table(conn, workspace_id=ws, name="Feed", columns=[
            ColumnCreate(name="Name", type="text"), ColumnCreate(name="Score", type="number")])
        ids = await records.create_records(conn, t, [{"Name": f"n{i}", "Score": i} for i in range(rows)])
    name = str(next(c.id for c in t.columns if c.name == "Name"))
    sizes = (1, CHEAPER.SMALL_UPDATE, CHEAPER.SMALL_UPDATE + 1, 3)  # a one-row plan first, then both paths
    async with transaction(acc, engine=engine) as conn:  # one connection: the cached plan is reused
        start = (await conn.execute(text("SELECT coalesce(max(seq), 0) FROM changes"))).scalar_one()
        done = 0
        for n in sizes:
            await conn.execute(
                text("UPDATE records SET data = jsonb_set(data, ARRAY[:c], to_jsonb('v' || id::text)) "
                     "WHERE table_id = :t AND id = ANY(:ids)"),
                {"c": name, "t": t.id, "ids": ids[done: done + n]})
            done += n
        feed = (await conn.execute(
            text("SELECT record_id, column_id::text, kind, op, data FROM changes WHERE seq > :s ORDER BY seq"),
            {"s": start})).all()
    assert [r.record_id for r in feed] == ids[:done]  # one row per changed cell, in order
    assert {(r.column_id, r.kind, r.op) for r in feed} == {(name, "cell", "update")}
    assert all(r.data == {"value": f"v{r.record_id}", "version": 0, "status": "idle", "error": None,
                          "pinned": False} for r in feed)


async def test_the_feed_reports_changed_states_and_removed_values(engine, unique):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"feedb{unique}", password="pw-12345678")
        ws = (await accounts.create_workspace(conn, owner_id=acc))["id"]
    async with transaction(acc, engine=engine) as conn:
        t = await tables.create_table(conn, workspace_id=ws, name="Sides", columns=[
            ColumnCreate(name="A", type="text"), ColumnCreate(name="B", type="text")])
        a, b = (str(c.id) for c in t.columns)
        one, two, three = await records.create_records(conn, t, [{"A": "x", "B": "y"}] * 3)
        start = (await conn.execute(text("SELECT coalesce(max(seq), 0) FROM changes"))).scalar_one()
        update = "UPDATE records SET {} WHERE id = :id"
        await conn.execute(text(update.format("meta = jsonb_set(meta, ARRAY[:a], '{\"s\": \"pending\"}')")),
                           {"a": a, "id": one})  # a state alone
        await conn.execute(text(update.format("data = data - :b")), {"b": b, "id": two})  # a value removed
        await conn.execute(text(update.format("data = data || jsonb_build_object(CAST(:a AS text), 'z'), "
                                              "meta = jsonb_set(meta, ARRAY[:b], '{\"v\": 2}')")),
                           {"a": a, "b": b, "id": three})  # both sides, different cells
        await conn.execute(text(update.format("data = data")), {"id": one})  # nothing at all
        feed = (await conn.execute(
            text("SELECT record_id, column_id::text, data FROM changes WHERE seq > :s ORDER BY seq"),
            {"s": start})).all()
    got = [(r.record_id, r.column_id, r.data["value"], r.data["status"], r.data["version"]) for r in feed]
    assert sorted(got) == sorted([(one, a, "x", "pending", 0), (two, b, None, "idle", 0),
                                  (three, a, "z", "idle", 0), (three, b, "y", "idle", 2)])
