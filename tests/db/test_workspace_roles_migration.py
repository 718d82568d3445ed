"""Migration 0011 on a database that already has accounts, workspaces and a chat: every membership stays
(as owner, its role until now), the chat keeps its workspace, and the migration goes down and up again."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from db.migrate import alembic_config, upgrade

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture
def scratch(services, unique):
    name = f"tc_mig_{unique}"
    admin = make_url(services.owner_url).set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(services.owner_url).set(database=name).render_as_string(hide_password=False)
    yield url, make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_existing_workspaces_keep_their_owners_and_chats(scratch):
    url, dsn = scratch
    upgrade(url, "0010")
    with psycopg.connect(dsn, autocommit=True) as conn:
        acc = conn.execute("INSERT INTO accounts (name, password_hash) VALUES ('old', 'x') RETURNING id").fetchone()[0]
        ws = conn.execute("INSERT INTO workspaces (name, owner_id, created_at) VALUES ('calm-blue-lake', %s, "
                          "'2026-01-02') RETURNING id", (acc,)).fetchone()[0]
        conn.execute("INSERT INTO memberships (workspace_id, account_id) VALUES (%s, %s)", (ws, acc))
        thread = conn.execute("INSERT INTO threads (id, metadata) VALUES (gen_random_uuid(), "
                              "jsonb_build_object('workspace_id', %s::text)) RETURNING id", (str(ws),)).fetchone()[0]
    upgrade(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        role, used = conn.execute("SELECT role, last_used_at::date::text FROM memberships WHERE account_id = %s",
                                  (acc,)).fetchone()
        assert (role, used) == ("owner", "2026-01-02")
        assert conn.execute("SELECT metadata ->> 'workspace_id' FROM threads WHERE id = %s",
                            (thread,)).fetchone()[0] == str(ws)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE memberships SET role = 'admin'")
    command.downgrade(alembic_config(url), "0010")
    upgrade(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM memberships WHERE role = 'owner'").fetchone()[0] == 1
