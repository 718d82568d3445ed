"""the app connects as a role of its own: row-level security forced on every table, a `tablechat_system`
role for the cross-account work, login sessions that logout revokes, API tokens that expire

Until now the app and the workers connected as the owner of the tables (the local superuser), so row-level
security held only inside `SET ROLE tablechat_app`. Now they connect as a login role that owns nothing and
is a member of two group roles:

- `tablechat_app`: a person's transactions (`db.engine.act_as`); policies let it see its own workspaces.
- `tablechat_system`: everything before an account is known (login, token lookup) and the workers; a
  policy on every table lets it see all rows, but it has no DDL and no ownership, so it can neither turn
  row-level security off nor change the schema.

Every table gets row-level security *forced*, so the owner is subject to the policies too. The owner
becomes a member of `tablechat_system`, so the SECURITY DEFINER trigger functions (which run as the
owner: the change feed, the row counts) and data migrations still see every row; a superuser owner
bypasses it anyway.

The membership policy called `tc_my_workspaces()`, which reads `memberships`: with the owner forced
under the policies, that would recurse. A person sees their own memberships only (all the app ever
asked for), so the function reads that table without calling itself.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

APP_ROLE = "tablechat_app"
SYSTEM_ROLE = "tablechat_system"
ACCOUNT = "nullif(current_setting('app.account_id', true), '')::uuid"

# tables without a workspace column, and what a person's own transaction would see of them (the role
# has no privilege on them today: the policies keep it that way should one be granted)
PERSONAL = {
    "accounts": f"id = {ACCOUNT}",
    "api_tokens": f"account_id = {ACCOUNT}",
    "agent_histories": f"account_id = {ACCOUNT}",
    "login_sessions": f"account_id = {ACCOUNT}",
}

EVERY_TABLE = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'
ORDER BY 1
"""


def _create_role(name: str) -> None:
    # roles belong to the whole server: another database of it may have created this one already
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN
            CREATE ROLE {name} NOLOGIN;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$;
        """
    )


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("account_id", UUID(as_uuid=True), sa.ForeignKey("accounts.id", ondelete="CASCADE",
                  name="fk_login_sessions_account_id_accounts"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_login_sessions"),
    )
    op.create_index("ix_login_sessions_account_id", "login_sessions", ["account_id"])
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True)))

    _create_role(APP_ROLE)
    _create_role(SYSTEM_ROLE)
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT pg_has_role(current_user, '{SYSTEM_ROLE}', 'USAGE') THEN
            EXECUTE format('GRANT {SYSTEM_ROLE} TO %I', current_user);
          END IF;
        END $$;
        GRANT USAGE ON SCHEMA public TO {SYSTEM_ROLE};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {SYSTEM_ROLE};
        REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {SYSTEM_ROLE};
        GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {SYSTEM_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
          GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {SYSTEM_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {SYSTEM_ROLE};
        GRANT INSERT ON outbox TO {APP_ROLE};
        """
    )

    op.execute("DROP POLICY isolation ON memberships")
    op.execute(f"CREATE POLICY isolation ON memberships USING (account_id = {ACCOUNT})")
    for table, rule in PERSONAL.items():
        op.execute(f"CREATE POLICY isolation ON {table} TO {APP_ROLE} USING ({rule}) WITH CHECK ({rule})")
    op.execute(f"CREATE POLICY app_enqueue ON outbox FOR INSERT TO {APP_ROLE} WITH CHECK (true)")

    for (table,) in op.get_bind().execute(sa.text(EVERY_TABLE)):
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY system ON "{table}" TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)')


def downgrade() -> None:
    for (table,) in op.get_bind().execute(sa.text(EVERY_TABLE)):
        op.execute(f'DROP POLICY IF EXISTS system ON "{table}"')
        op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    for table in (*PERSONAL, "outbox", "threads", "steps", "elements", "feedbacks", "users"):
        op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')
        op.execute(f'DROP POLICY IF EXISTS isolation ON "{table}"')
    op.execute("DROP POLICY IF EXISTS app_enqueue ON outbox")
    op.execute("DROP POLICY isolation ON memberships")
    op.execute("CREATE POLICY isolation ON memberships USING (workspace_id IN (SELECT tc_my_workspaces()))")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {SYSTEM_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {SYSTEM_ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {SYSTEM_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {SYSTEM_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {SYSTEM_ROLE}")
    op.drop_column("api_tokens", "expires_at")
    op.drop_index("ix_login_sessions_account_id", table_name="login_sessions")
    op.drop_table("login_sessions")
