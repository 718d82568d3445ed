"""row counts kept by triggers, so listing tables does not count every row of every table

`list_tables` counted each table's rows at every call: about 100 ms for one fresh 100,000-row table,
paid by every "list my tables" of the agent. Statement-level triggers now keep a count per table, in
the same transaction as the rows. They take the table's feed lock first (as every writer of a table
does, see 0002), so the count row is only ever locked in that order and never waits on its own.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COUNTS = r"""
CREATE TABLE table_row_counts (
  table_id uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  n bigint NOT NULL DEFAULT 0,
  FOREIGN KEY (table_id, workspace_id) REFERENCES data_tables (id, workspace_id) ON DELETE CASCADE
);

CREATE FUNCTION tc_count_rows() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET jit = off AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT table_id AS t FROM new_rows ORDER BY 1) s;
    EXECUTE $q$
    INSERT INTO table_row_counts AS c (table_id, workspace_id, n)
    SELECT table_id, workspace_id, count(*) FROM new_rows GROUP BY table_id, workspace_id ORDER BY table_id
    ON CONFLICT (table_id) DO UPDATE SET n = c.n + excluded.n
    $q$;
  ELSE
    PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT table_id AS t FROM old_rows ORDER BY 1) s;
    -- rows removed with their whole table take their count with them (the foreign key cascades)
    EXECUTE $q$
    UPDATE table_row_counts c SET n = c.n - x.n
    FROM (SELECT table_id, count(*) AS n FROM old_rows GROUP BY table_id) x
    WHERE c.table_id = x.table_id
    $q$;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER records_count_insert AFTER INSERT ON records
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tc_count_rows();
CREATE TRIGGER records_count_delete AFTER DELETE ON records
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tc_count_rows();

ALTER TABLE table_row_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY isolation ON table_row_counts USING (workspace_id IN (SELECT tc_my_workspaces()));
GRANT SELECT ON table_row_counts TO tablechat_app;
"""


def upgrade() -> None:
    op.execute("LOCK TABLE records IN SHARE MODE")  # no row comes or goes between the count and the triggers
    op.execute(COUNTS)
    op.execute("INSERT INTO table_row_counts (table_id, workspace_id, n) "
               "SELECT id, workspace_id, (SELECT count(*) FROM records r WHERE r.table_id = d.id) FROM data_tables d")


def downgrade() -> None:
    op.execute("DROP TRIGGER records_count_insert ON records")
    op.execute("DROP TRIGGER records_count_delete ON records")
    op.execute("DROP TABLE table_row_counts")
    op.execute("DROP FUNCTION tc_count_rows()")
