"""AI-column workers: job progress time and reason, the input hash of a cell, outbox wake-ups

Revision ID: 0004
Revises: 0003

`tc_input_hash(data, deps)` is the one definition of "the inputs of an AI cell": the values of the
columns it depends on, in order. A worker stores it when it claims a cell and writes its result only
if the inputs still hash the same. Inserting into the outbox notifies `tc_outbox`, so the relay sends
new jobs at once instead of on its next poll.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("reason", sa.String(20), server_default="fill", nullable=False))
    op.add_column("jobs", sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                                    nullable=False))
    op.create_index("ix_jobs_active", "jobs", ["updated_at"],
                    postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.create_index("ix_outbox_unsent", "outbox", ["id"], postgresql_where=sa.text("sent_at IS NULL"))
    op.execute(
        """
        CREATE FUNCTION tc_input_hash(data jsonb, deps text[]) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
        $$ SELECT md5(coalesce((SELECT jsonb_agg(data -> d ORDER BY o)
                                FROM unnest(deps) WITH ORDINALITY AS x(d, o)), '[]'::jsonb)::text) $$;

        CREATE FUNCTION tc_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN PERFORM pg_notify('tc_outbox', ''); RETURN NULL; END $$;

        CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
          FOR EACH STATEMENT EXECUTE FUNCTION tc_outbox_notify();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION tc_outbox_notify()")
    op.execute("DROP FUNCTION tc_input_hash(jsonb, text[])")
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.drop_index("ix_jobs_active", table_name="jobs")
    op.drop_column("jobs", "updated_at")
    op.drop_column("jobs", "reason")
