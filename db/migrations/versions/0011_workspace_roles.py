"""workspaces shared with roles: owner, editor, viewer; a viewer's writes refused by PostgreSQL itself

Until now every member of a workspace could do everything in it (one policy per table for all commands).
Now a membership has a role, checked by the database as well as by the code:

- `owner`: everything, and the workspace itself (its members, its name, deleting it);
- `editor`: everything on the data and the schema of its tables;
- `viewer`: reads only.

Each table of user data gets a policy per command: reads stay open to every member, INSERT / UPDATE /
DELETE need `tc_can_write(workspace_id)` (owner or editor). Members are added, changed and removed by owners
only (`tc_is_owner`), and the name of a workspace changes (or the workspace goes) only by an owner. Both
helpers are STABLE SECURITY DEFINER functions reading `memberships`, like `tc_my_workspaces()`; the
membership policies they meet are for SELECT only, so they never call themselves.

`memberships.last_used_at` remembers when an account last worked in each workspace: a new chat, and a
table made without naming a workspace, go to the most recent one. Existing memberships keep their role
(`owner`, the default so far) and start at the workspace's creation time.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APP_ROLE = "tablechat_app"
ACCOUNT = "nullif(current_setting('app.account_id', true), '')::uuid"
# user data: readable by every member, written only by owners and editors (the change feed and the row
# counts are written by SECURITY DEFINER triggers as the owner of the schema, which these do not concern)
WRITTEN_BY_EDITORS = ("data_tables", "columns", "records", "changes", "cell_edits", "ai_runs", "jobs")
MEMBERS = "workspace_id IN (SELECT tc_my_workspaces())"
WRITER = "tc_can_write(workspace_id)"

FUNCTIONS = f"""
CREATE FUNCTION tc_my_role(ws uuid) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
  SELECT role FROM memberships WHERE workspace_id = ws AND account_id = {ACCOUNT}
$$;
CREATE FUNCTION tc_can_write(ws uuid) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM memberships WHERE workspace_id = ws AND account_id = {ACCOUNT}
                 AND role IN ('owner', 'editor'))
$$;
CREATE FUNCTION tc_is_owner(ws uuid) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM memberships WHERE workspace_id = ws AND account_id = {ACCOUNT}
                 AND role = 'owner')
$$;
"""

MEMBER_FUNCTIONS = f"""
CREATE FUNCTION tc_set_member(ws uuid, who uuid, new_role text) RETURNS boolean LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE inserted boolean;
BEGIN
  IF NOT tc_is_owner(ws) THEN
    RAISE EXCEPTION 'only an owner of the workspace changes its members' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF who = {ACCOUNT} THEN
    RAISE EXCEPTION 'nobody changes their own role' USING ERRCODE = 'check_violation';
  END IF;
  -- a new member has not worked in it yet: it does not become their most recent workspace
  INSERT INTO memberships (workspace_id, account_id, role, last_used_at) VALUES (ws, who, new_role, '-infinity')
  ON CONFLICT (workspace_id, account_id) DO UPDATE SET role = EXCLUDED.role
  RETURNING (xmax = 0) INTO inserted;
  RETURN inserted;
END $$;
CREATE FUNCTION tc_remove_member(ws uuid, who uuid) RETURNS boolean LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE owners int;
BEGIN
  IF NOT tc_is_owner(ws) THEN
    RAISE EXCEPTION 'only an owner of the workspace changes its members' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT count(*) INTO owners FROM memberships WHERE workspace_id = ws AND role = 'owner'
    AND account_id <> who;
  IF owners = 0 THEN
    RAISE EXCEPTION 'a workspace keeps at least one owner' USING ERRCODE = 'check_violation';
  END IF;
  DELETE FROM memberships WHERE workspace_id = ws AND account_id = who;
  RETURN FOUND;
END $$;
"""


def upgrade() -> None:
    op.add_column("memberships", sa.Column("last_used_at", sa.DateTime(timezone=True),
                                           server_default=sa.func.now(), nullable=False))
    op.execute("UPDATE memberships m SET last_used_at = w.created_at FROM workspaces w WHERE w.id = m.workspace_id")
    op.execute("UPDATE memberships SET role = 'owner' WHERE role IS NULL OR role NOT IN ('owner', 'editor', 'viewer')")
    op.execute("ALTER TABLE memberships ADD CONSTRAINT ck_memberships_role CHECK (role IN ('owner', 'editor', 'viewer'))")
    op.create_index("ix_memberships_account_recent", "memberships", ["account_id", sa.text("last_used_at DESC")])
    op.execute(FUNCTIONS)

    for table in WRITTEN_BY_EDITORS:
        op.execute(f"DROP POLICY isolation ON {table}")
        op.execute(f"CREATE POLICY isolation ON {table} FOR SELECT USING ({MEMBERS})")
        op.execute(f"CREATE POLICY writers_insert ON {table} FOR INSERT WITH CHECK ({WRITER})")
        op.execute(f"CREATE POLICY writers_update ON {table} FOR UPDATE USING ({WRITER}) WITH CHECK ({WRITER})")
        op.execute(f"CREATE POLICY writers_delete ON {table} FOR DELETE USING ({WRITER})")

    # the workspace itself: seen by its members, renamed or deleted by an owner
    op.execute("DROP POLICY isolation ON workspaces")
    op.execute("CREATE POLICY isolation ON workspaces FOR SELECT USING (id IN (SELECT tc_my_workspaces()))")
    op.execute(f"CREATE POLICY owners_update ON workspaces FOR UPDATE TO {APP_ROLE} "
               "USING (tc_is_owner(id)) WITH CHECK (tc_is_owner(id))")
    op.execute(f"CREATE POLICY owners_delete ON workspaces FOR DELETE TO {APP_ROLE} USING (tc_is_owner(id))")
    op.execute(f"GRANT UPDATE (name), DELETE ON workspaces TO {APP_ROLE}")

    # memberships: each person sees only their own (as before); the app has no write on them, an owner
    # changes them through tc_set_member / tc_remove_member, which check the caller's role themselves
    op.execute(MEMBER_FUNCTIONS)


def downgrade() -> None:
    op.execute("DROP FUNCTION tc_set_member(uuid, uuid, text)")
    op.execute("DROP FUNCTION tc_remove_member(uuid, uuid)")
    op.execute(f"REVOKE UPDATE, DELETE ON workspaces FROM {APP_ROLE}")
    for name in ("owners_update", "owners_delete", "isolation"):
        op.execute(f"DROP POLICY IF EXISTS {name} ON workspaces")
    op.execute("CREATE POLICY isolation ON workspaces USING (id IN (SELECT tc_my_workspaces()))")
    for table in WRITTEN_BY_EDITORS:
        for name in ("writers_insert", "writers_update", "writers_delete", "isolation"):
            op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
        op.execute(f"CREATE POLICY isolation ON {table} USING ({MEMBERS}) WITH CHECK ({MEMBERS})")
    for fn in ("tc_my_role", "tc_can_write", "tc_is_owner"):
        op.execute(f"DROP FUNCTION {fn}(uuid)")
    op.drop_index("ix_memberships_account_recent", table_name="memberships")
    op.execute("ALTER TABLE memberships DROP CONSTRAINT ck_memberships_role")
    op.drop_column("memberships", "last_used_at")
