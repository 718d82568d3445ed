"""the change feed tells listeners: one NOTIFY per table and transaction when feed rows are written

A statement-level trigger on `changes` sends `pg_notify('tc_changes', table_id)` for each table its
statement wrote feed rows for. PostgreSQL delivers notifications at commit (never for a rolled-back
transaction) and folds identical ones of one transaction into one, so a bulk write of 100,000 rows, an
AI fill's batch or a proposal's apply costs one notification per table, not one per row. The payload is
only the table id: listeners read the feed itself (as a person, under row-level security) to learn what
changed, so nothing of a row travels on the channel that every connection could LISTEN to.

Revision ID: 0014
Revises: 0010
"""

from alembic import op

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None

CHANNEL = "tc_changes"


def upgrade() -> None:
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
    op.execute("DROP TRIGGER tc_changes_notify ON changes")
    op.execute("DROP FUNCTION tc_changes_notify()")
