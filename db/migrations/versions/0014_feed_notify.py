"""the change feed tells listeners (one NOTIFY per table and transaction); sorts of big tables are noted
for the sort indexes that a maintenance step builds

## The feed's notifications

A statement-level trigger on `changes` sends `pg_notify('tc_changes', table_id)` for each table its
statement wrote feed rows for. PostgreSQL delivers notifications at commit (never for a rolled-back
transaction) and folds identical ones of one transaction into one, so a bulk write of 100,000 rows, an
AI fill's batch or a proposal's apply costs one notification per table, not one per row. The payload is
only the table id: listeners read the feed itself (as a person, under row-level security) to learn what
changed, so nothing of a row travels on the channel that every connection could LISTEN to.

## Sort demand

A sorted first page of a 100,000-row table reads and sorts every row (~170 ms against ~35 ms unsorted).
A partial expression index per (table, column, direction) makes it an index scan of 100 entries, but
building one inside a person's request holds every workspace's writes to `records` (CREATE INDEX takes a
SHARE lock and reads the whole heap). So a request only *notes* the sort: `tc_note_sort` (SECURITY
DEFINER; it checks the column is in a table of the caller's workspaces, and writes nothing once the index
exists or while the table has fewer than 10,000 rows) counts it in `sort_demand`, which only the system
role can see. `db.sort_indexes.maintain`, run as the schema owner by `tablechat maintain`, builds the most
wanted indexes with CREATE INDEX CONCURRENTLY (no lock on writers), at most 4 per table, and drops with
DROP INDEX CONCURRENTLY those whose column is gone or changed type.

Revision ID: 0014
Revises: 0010
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

CHANNEL = "tc_changes"


SORT_DEMAND = r"""
CREATE TABLE sort_demand (
  column_id uuid NOT NULL,
  kind varchar(8) NOT NULL,
  descending boolean NOT NULL,
  table_id uuid NOT NULL REFERENCES data_tables (id) ON DELETE CASCADE,
  hits bigint NOT NULL DEFAULT 1,
  last_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (column_id, kind, descending)
);
ALTER TABLE sort_demand ENABLE ROW LEVEL SECURITY;
ALTER TABLE sort_demand FORCE ROW LEVEL SECURITY;
CREATE POLICY system ON sort_demand TO tablechat_system USING (true) WITH CHECK (true);

CREATE FUNCTION tc_sort_index_name(p_column uuid, p_kind text, p_desc boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT 'ix_sort_' || replace(p_column::text, '-', '') || '_' || left(p_kind, 1) || CASE WHEN p_desc THEN 'd' ELSE 'a' END
$$;

CREATE FUNCTION tc_note_sort(p_table uuid, p_column uuid, p_kind text, p_desc boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF p_kind NOT IN ('text', 'date', 'jsonb') OR to_regclass(tc_sort_index_name(p_column, p_kind, p_desc)) IS NOT NULL
     OR coalesce((SELECT n FROM table_row_counts WHERE table_id = p_table), 0) < 10000 THEN
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM columns c JOIN data_tables t ON t.id = c.table_id
                 WHERE c.id = p_column AND t.id = p_table AND t.workspace_id IN (SELECT tc_my_workspaces())) THEN
    RETURN;
  END IF;
  INSERT INTO sort_demand AS d (column_id, kind, descending, table_id) VALUES (p_column, p_kind, p_desc, p_table)
  ON CONFLICT (column_id, kind, descending) DO UPDATE SET hits = d.hits + 1, last_at = now();
END $$;
REVOKE ALL ON FUNCTION tc_note_sort(uuid, uuid, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tc_note_sort(uuid, uuid, text, boolean) TO tablechat_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON sort_demand TO tablechat_system;
"""


def upgrade() -> None:
    op.execute(SORT_DEMAND)
    op.execute(
        f"""
        CREATE FUNCTION tc_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('{CHANNEL}', t::text) FROM (SELECT DISTINCT table_id AS t FROM new_rows) d;
          RETURN NULL;
        END $$;
        CREATE TRIGGER tc_changes_notify AFTER INSERT ON changes
          REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tc_changes_notify();
        """
    )


def downgrade() -> None:
    op.execute("""
        DO $$ DECLARE ix text; BEGIN
          FOR ix IN SELECT relname FROM pg_class WHERE relkind = 'i' AND relname LIKE 'ix_sort_%' LOOP
            EXECUTE format('DROP INDEX IF EXISTS %I', ix);
          END LOOP;
        END $$""")
    op.execute("DROP FUNCTION tc_note_sort(uuid, uuid, text, boolean)")
    op.execute("DROP FUNCTION tc_sort_index_name(uuid, text, boolean)")
    op.execute("DROP TABLE sort_demand")
    op.execute("DROP TRIGGER tc_changes_notify ON changes")
    op.execute("DROP FUNCTION tc_changes_notify()")
