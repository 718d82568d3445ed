"""The app connects as a role of its own (not the superuser, not the owner of the tables), and row-level
security holds for it on every table: a query that forgets its filter still sees one person's rows only."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from core.services import APP_LOGIN
from db import accounts, tables
from db.engine import transaction
from db.roles import check_app_role, grant_app_roles


async def _person(engine, name: str):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=name, password="a long passphrase")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    async with transaction(acc, engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=ws["id"], name=f"{name} table", columns=[])
    return acc, ws, table


async def test_the_app_connects_as_a_role_that_is_neither_superuser_nor_owner(engine):
    async with transaction(None, engine=engine) as conn:
        who = (await conn.execute(text("SELECT current_user"))).scalar_one()
        assert who == APP_LOGIN
        assert await check_app_role(conn) == []


async def test_every_table_has_row_level_security_enabled_and_forced(engine):
    async with transaction(None, engine=engine) as conn:
        rows = (await conn.execute(text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'"))).all()
    assert {"accounts", "api_tokens", "records", "workspaces", "login_sessions", "threads"} <= {r[0] for r in rows}
    assert [r[0] for r in rows if not (r[1] and r[2])] == []


async def test_a_query_without_any_filter_sees_only_the_current_users_workspaces(engine, unique):
    mine, my_ws, my_table = await _person(engine, f"rls-a{unique}")
    _, other_ws, _ = await _person(engine, f"rls-b{unique}")
    async with transaction(mine, engine=engine) as conn:
        workspaces = (await conn.execute(text("SELECT id FROM workspaces"))).scalars().all()
        data_tables = (await conn.execute(text("SELECT id FROM data_tables"))).scalars().all()
        members = (await conn.execute(text("SELECT workspace_id FROM memberships"))).scalars().all()
        changes = (await conn.execute(text("SELECT DISTINCT workspace_id FROM changes"))).scalars().all()
    assert workspaces == [my_ws["id"]]
    assert data_tables == [my_table.id]
    assert members == [my_ws["id"]]
    assert changes == [my_ws["id"]]
    # the system side (login, workers) still sees both
    async with transaction(None, engine=engine) as conn:
        both = set((await conn.execute(text("SELECT id FROM workspaces"))).scalars())
    assert {my_ws["id"], other_ws["id"]} <= both


async def test_the_app_role_can_neither_turn_row_level_security_off_nor_change_the_schema(engine, unique):
    mine, _, _ = await _person(engine, f"rls-c{unique}")
    for statement in ("ALTER TABLE records DISABLE ROW LEVEL SECURITY", "ALTER TABLE records NO FORCE ROW LEVEL SECURITY",
                      "DROP POLICY isolation ON workspaces", "CREATE TABLE leak (x int)"):
        with pytest.raises(DBAPIError, match="must be owner|permission denied"):
            async with transaction(None, engine=engine) as conn:
                await conn.execute(text(statement))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with transaction(mine, engine=engine) as conn:
            await conn.execute(text("SET LOCAL row_security = off"))
            await conn.execute(text("SELECT count(*) FROM workspaces"))


def test_a_deployment_names_its_own_app_role(services, unique):
    """DATABASE_URL's role is the app's; it must exist already, and migrating grants it the group roles."""
    missing = make_url(services.database_url).set(username=f"nobody_{unique}").render_as_string(False)
    with pytest.raises(RuntimeError, match="does not exist"):
        grant_app_roles(services.owner_url, missing)
    role = f"tc_deploy_{unique}"
    admin = make_url(services.owner_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        grant_app_roles(services.owner_url, make_url(services.database_url).set(username=role).render_as_string(False))
        with psycopg.connect(admin, autocommit=True) as conn:
            granted = conn.execute(
                "SELECT pg_has_role(%s, 'tablechat_app', 'MEMBER') AND pg_has_role(%s, 'tablechat_system', 'MEMBER')",
                (role, role)).fetchone()[0]
        assert granted
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_local_servers_are_used_through_the_app_role(monkeypatch):
    from core import services as svc
    from core.settings import get_settings

    if not svc.port_open("127.0.0.1", 5432):
        pytest.skip("no local PostgreSQL")
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("DATABASE_OWNER_URL")
    get_settings.cache_clear()
    try:
        found = svc.resolve(db_name="postgres")
        found.stop()
    finally:
        get_settings.cache_clear()
    assert make_url(found.database_url).username == APP_LOGIN
    assert make_url(found.owner_url).username == "postgres"


async def test_a_schema_owner_that_is_no_superuser_migrates_and_the_feed_triggers_still_write(services, unique):
    """With row-level security forced, the owner is under the policies too: the change-feed and row-count
    triggers (SECURITY DEFINER, so they run as the owner) must still write, for a person and for the system."""
    from db import records
    from db.engine import make_engine
    from db.migrate import upgrade
    from db.schemas import ColumnCreate

    owner_role, name = f"tc_owner_{unique}", f"tablechat_owned_{unique}"
    admin = make_url(services.owner_url).set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner_role} LOGIN CREATEROLE")
        # PostgreSQL 16+ (the embedded server): CREATEROLE alone no longer lets a role grant roles someone
        # else created, so the cluster's admin hands over the app's roles, as docs/security.md says
        for role in ("tablechat_app", "tablechat_system"):
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"GRANT {role} TO {owner_role} WITH ADMIN OPTION")
        conn.execute(f'CREATE DATABASE "{name}" OWNER {owner_role}')
    owner = make_url(services.owner_url).set(username=owner_role, database=name).render_as_string(False)
    app = make_url(services.database_url).set(database=name).render_as_string(False)
    try:
        upgrade(owner, app_url=app)
        engine = make_engine(app, pool_size=1)
        try:
            acc, ws, _ = await _person(engine, f"own{unique}")
            async with transaction(acc, engine=engine) as conn:
                table = await tables.create_table(conn, workspace_id=ws["id"], name="Owned",
                                                  columns=[ColumnCreate(name="x", type="text")])
                await records.create_records(conn, table, [{"x": "1"}, {"x": "2"}])
                counted = (await conn.execute(text("SELECT n FROM table_row_counts WHERE table_id = :t"),
                                              {"t": table.id})).scalar_one()
            async with transaction(None, engine=engine) as conn:
                await conn.execute(text("UPDATE records SET data = data || jsonb_build_object(CAST(:c AS text), 'y')"),
                                   {"c": str(table.columns[0].id)})
                cells = (await conn.execute(text("SELECT count(*) FROM changes WHERE kind = 'cell'"))).scalar_one()
        finally:
            await engine.dispose()
        assert counted == 2 and cells == 2
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f"DROP ROLE {owner_role}")
