"""change feed triggers and row-level security

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APP_ROLE = "tablechat_app"
SCOPED = ("data_tables", "columns", "records", "changes", "cell_edits", "ai_runs", "proposals", "jobs")

# Writers of one table's feed take the same transaction-scoped advisory lock before they draw a
# sequence number, so per table the order of `seq` is the order of commits: a reader that has seen
# seq N never later finds a smaller number appear.
FEED_SQL = r"""
CREATE FUNCTION tc_feed_lock(t uuid) RETURNS void LANGUAGE sql AS
$$ SELECT pg_advisory_xact_lock(hashtextextended(t::text, 7)) $$;

CREATE FUNCTION tc_records_inserted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT table_id AS t FROM new_rows ORDER BY 1) s;
  INSERT INTO changes (table_id, workspace_id, kind, op, record_id)
  SELECT table_id, workspace_id, 'record', 'insert', id FROM new_rows ORDER BY id;
  RETURN NULL;
END $$;

CREATE FUNCTION tc_records_updated() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT table_id AS t FROM new_rows ORDER BY 1) s;
  INSERT INTO changes (table_id, workspace_id, kind, op, record_id, column_id, data)
  SELECT n.table_id, n.workspace_id, 'cell', 'update', n.id, k.key::uuid,
         jsonb_build_object(
           'value', n.data -> k.key,
           'version', coalesce((n.meta -> k.key ->> 'v')::int, 0),
           'status', coalesce(n.meta -> k.key ->> 's', 'idle'),
           'error', n.meta -> k.key -> 'e',
           'pinned', coalesce((n.meta -> k.key ->> 'p')::boolean, false))
  FROM new_rows n
  JOIN old_rows o ON o.id = n.id
  CROSS JOIN LATERAL (
    SELECT jsonb_object_keys(n.data) AS key UNION SELECT jsonb_object_keys(n.meta)
  ) k
  WHERE (n.data -> k.key, n.meta -> k.key) IS DISTINCT FROM (o.data -> k.key, o.meta -> k.key)
  ORDER BY n.id, k.key;
  RETURN NULL;
END $$;

CREATE FUNCTION tc_records_deleted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  -- rows removed because their whole table was deleted are covered by the table's own change
  PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT table_id AS t FROM old_rows ORDER BY 1) s;
  INSERT INTO changes (table_id, workspace_id, kind, op, record_id)
  SELECT o.table_id, o.workspace_id, 'record', 'delete', o.id FROM old_rows o
  WHERE EXISTS (SELECT 1 FROM data_tables d WHERE d.id = o.table_id)
  ORDER BY o.id;
  RETURN NULL;
END $$;

CREATE TRIGGER records_feed_insert AFTER INSERT ON records
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tc_records_inserted();
CREATE TRIGGER records_feed_update AFTER UPDATE ON records
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tc_records_updated();
CREATE TRIGGER records_feed_delete AFTER DELETE ON records
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tc_records_deleted();

CREATE FUNCTION tc_table_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE r data_tables;
BEGIN
  r := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  PERFORM tc_feed_lock(r.id);
  INSERT INTO changes (table_id, workspace_id, kind, op, data)
  VALUES (r.id, r.workspace_id, 'table', lower(TG_OP),
          jsonb_build_object('name', r.name, 'description', r.description));
  RETURN NULL;
END $$;

CREATE TRIGGER data_tables_feed AFTER INSERT OR UPDATE OR DELETE ON data_tables
  FOR EACH ROW EXECUTE FUNCTION tc_table_changed();

CREATE FUNCTION tc_column_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE c columns;
BEGIN
  c := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM data_tables d WHERE d.id = c.table_id) THEN
    RETURN NULL;
  END IF;
  PERFORM tc_feed_lock(c.table_id);
  INSERT INTO changes (table_id, workspace_id, kind, op, column_id, data)
  VALUES (c.table_id, c.workspace_id, 'column', lower(TG_OP), c.id,
          CASE WHEN TG_OP = 'DELETE' THEN NULL
               ELSE to_jsonb(c) - 'workspace_id' - 'table_id' - 'created_at' END);
  RETURN NULL;
END $$;

CREATE TRIGGER columns_feed AFTER INSERT OR UPDATE OR DELETE ON columns
  FOR EACH ROW EXECUTE FUNCTION tc_column_changed();
"""


def upgrade() -> None:
    op.execute(FEED_SQL)
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} NOLOGIN;
          END IF;
        END $$;
        GRANT {APP_ROLE} TO current_user;
        GRANT USAGE ON SCHEMA public TO {APP_ROLE};
        GRANT SELECT ON workspaces, memberships TO {APP_ROLE};
        GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(SCOPED)} TO {APP_ROLE};
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
        GRANT INSERT ON outbox TO {APP_ROLE};

        CREATE FUNCTION tc_my_workspaces() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = public, pg_temp AS $$
          SELECT workspace_id FROM memberships
          WHERE account_id = nullif(current_setting('app.account_id', true), '')::uuid
        $$;
        """
    )
    op.execute("ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY isolation ON workspaces USING (id IN (SELECT tc_my_workspaces()))")
    op.execute("ALTER TABLE memberships ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY isolation ON memberships USING (workspace_id IN (SELECT tc_my_workspaces()))")
    for table in SCOPED:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY isolation ON {table} USING (workspace_id IN (SELECT tc_my_workspaces())) "
            f"WITH CHECK (workspace_id IN (SELECT tc_my_workspaces()))"
        )


def downgrade() -> None:
    for table in ("workspaces", "memberships", *SCOPED):
        op.execute(f"DROP POLICY IF EXISTS isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
    op.execute("DROP TRIGGER records_feed_insert ON records")
    op.execute("DROP TRIGGER records_feed_update ON records")
    op.execute("DROP TRIGGER records_feed_delete ON records")
    op.execute("DROP TRIGGER data_tables_feed ON data_tables")
    op.execute("DROP TRIGGER columns_feed ON columns")
    for fn in ("tc_records_inserted", "tc_records_updated", "tc_records_deleted", "tc_table_changed",
               "tc_column_changed", "tc_my_workspaces"):
        op.execute(f"DROP FUNCTION {fn}()")
    op.execute("DROP FUNCTION tc_feed_lock(uuid)")
