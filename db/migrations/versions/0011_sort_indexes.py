"""sort indexes made on demand: the first sort of a big table by a column builds a partial expression index

Sorting the 100,000-row table by a JSONB value read and sorted every row: about 175 ms a page where the
unsorted page takes 20 ms. A partial index per (table, column, direction) on the column's sort key, with
the row id as the tie-break, turns that first page into an index scan of 100 entries.

The app owns no table, so it cannot create an index: `tc_sort_index` (SECURITY DEFINER) does it for a
column of a table the caller's workspace holds, with the expression built here from the column's kind,
never from client text. The name is derived from the column id, so `tc_drop_sort_indexes` (a trigger on
`columns`) drops them when the column goes or changes type; a table's deletion deletes its columns.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FUNCTIONS = r"""
CREATE FUNCTION tc_sort_index(p_table uuid, p_column uuid, p_kind text, p_desc boolean) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  name text := 'ix_sort_' || replace(p_column::text, '-', '') || '_' || left(p_kind, 1)
               || CASE WHEN p_desc THEN 'd' ELSE 'a' END;
  key text := quote_literal(p_column::text);
  expr text;
BEGIN
  IF to_regclass(name) IS NOT NULL THEN
    RETURN false;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM columns c JOIN data_tables t ON t.id = c.table_id
                 WHERE c.id = p_column AND t.id = p_table AND t.workspace_id IN (SELECT tc_my_workspaces())) THEN
    RAISE EXCEPTION 'no column % in a table of yours', p_column USING ERRCODE = '42501';
  END IF;
  expr := CASE p_kind
    WHEN 'text' THEN format('lower(data ->> %s)', key)
    WHEN 'date' THEN format('((data ->> %s) COLLATE "C")', key)
    WHEN 'jsonb' THEN format('NULLIF(data -> %s, %L::jsonb)', key, 'null')
  END;
  IF expr IS NULL THEN
    RAISE EXCEPTION 'unknown sort kind %', p_kind USING ERRCODE = '22023';
  END IF;
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON records (%s %s NULLS LAST, id) WHERE table_id = %L',
                 name, expr, CASE WHEN p_desc THEN 'DESC' ELSE 'ASC' END, p_table);
  RETURN true;
END $$;
REVOKE ALL ON FUNCTION tc_sort_index(uuid, uuid, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tc_sort_index(uuid, uuid, text, boolean) TO tablechat_app;

CREATE FUNCTION tc_drop_sort_indexes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
  ix text;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.type IS NOT DISTINCT FROM OLD.type THEN
    RETURN NULL;
  END IF;
  FOR ix IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'i'
              AND c.relname LIKE 'ix_sort_' || replace(OLD.id::text, '-', '') || '_%' LOOP
    EXECUTE format('DROP INDEX IF EXISTS %I', ix);
  END LOOP;
  RETURN NULL;
END $$;
CREATE TRIGGER columns_drop_sort_indexes AFTER DELETE OR UPDATE OF type ON columns
  FOR EACH ROW EXECUTE FUNCTION tc_drop_sort_indexes();
"""


def upgrade() -> None:
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute("DROP TRIGGER columns_drop_sort_indexes ON columns")
    op.execute("DROP FUNCTION tc_drop_sort_indexes()")
    op.execute("""
        DO $$ DECLARE ix text; BEGIN
          FOR ix IN SELECT relname FROM pg_class WHERE relkind = 'i' AND relname LIKE 'ix_sort_%' LOOP
            EXECUTE format('DROP INDEX IF EXISTS %I', ix);
          END LOOP;
        END $$""")
    op.execute("DROP FUNCTION tc_sort_index(uuid, uuid, text, boolean)")
