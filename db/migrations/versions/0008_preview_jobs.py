"""preview jobs: the workers compute an AI column's values for a few rows and keep them as the job's
results instead of writing cells (enrich_column proposes them for review)

A preview job (`jobs.mode = 'preview'`) carries the column it computes in `jobs.spec`, so it can try a
column that does not exist yet, or research a plain column with a prompt made for it. Each of its rows
has a `job_results` row with the working state a cell has in a fill (status, attempts, not-before,
claim, worker, claim time, input hash) and, once computed, the value or the reason there is none.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APP_ROLE = "tablechat_app"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("spec", postgresql.JSONB(), nullable=True))
    op.create_table(
        "job_results",
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("value", postgresql.JSONB(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("not_before", sa.Float(), server_default="0", nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("worker", sa.BigInteger(), nullable=True),
        sa.Column("claimed_at", sa.Float(), nullable=True),
        sa.Column("input_hash", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_results_job_id_jobs"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_job_results_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "record_id", name=op.f("pk_job_results")),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON job_results TO {APP_ROLE}")
    op.execute("ALTER TABLE job_results ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY isolation ON job_results USING (workspace_id IN (SELECT tc_my_workspaces())) "
               "WITH CHECK (workspace_id IN (SELECT tc_my_workspaces()))")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS isolation ON job_results")
    op.drop_table("job_results")
    op.drop_column("jobs", "spec")
