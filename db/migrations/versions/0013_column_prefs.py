"""column prefs: the columns a person hides in a table's grid and the widths they set, per account and table

A new table only; nothing existing changes. Row-level security is forced like on every table: a person's
transaction sees only their own rows of tables in their workspaces; the system role sees all.

Revision ID: 0013
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

APP_ROLE = "tablechat_app"
SYSTEM_ROLE = "tablechat_system"
ACCOUNT = "nullif(current_setting('app.account_id', true), '')::uuid"
MINE = f"account_id = {ACCOUNT} AND workspace_id IN (SELECT tc_my_workspaces())"


def upgrade() -> None:
    op.create_table(
        "column_prefs",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("table_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("hidden", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("widths", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_column_prefs_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["table_id"], ["data_tables.id"], name=op.f("fk_column_prefs_table_id_data_tables"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_column_prefs_workspace_id_workspaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "table_id", name=op.f("pk_column_prefs")),
    )
    op.create_index(op.f("ix_column_prefs_table_id"), "column_prefs", ["table_id"])
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON column_prefs TO {APP_ROLE}")
    op.execute("ALTER TABLE column_prefs ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE column_prefs FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY isolation ON column_prefs TO {APP_ROLE} USING ({MINE}) WITH CHECK ({MINE})")
    op.execute(f"CREATE POLICY system ON column_prefs TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS system ON column_prefs")
    op.execute("DROP POLICY IF EXISTS isolation ON column_prefs")
    op.drop_index(op.f("ix_column_prefs_table_id"), table_name="column_prefs")
    op.drop_table("column_prefs")
