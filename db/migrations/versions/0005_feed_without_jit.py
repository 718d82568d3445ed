"""feed triggers without JIT, one key scan per row

The change-feed triggers are short statements over transition tables; PostgreSQL's JIT compile cost
(0.3–0.6 s per statement on a 5,000-row update) dwarfed the work itself.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FUNCTIONS = ("tc_records_inserted", "tc_records_updated", "tc_records_deleted", "tc_table_changed",
             "tc_column_changed")

UPDATED = r"""
CREATE OR REPLACE FUNCTION tc_records_updated() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
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
  CROSS JOIN LATERAL jsonb_object_keys(n.data || n.meta) AS k(key)
  WHERE (n.data -> k.key, n.meta -> k.key) IS DISTINCT FROM (o.data -> k.key, o.meta -> k.key)
  ORDER BY n.id, k.key;
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(UPDATED)
    for fn in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn}() SET jit = off")


def downgrade() -> None:
    for fn in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn}() RESET jit")
