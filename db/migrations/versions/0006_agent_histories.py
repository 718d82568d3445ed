"""the agent's conversation per chat thread, kept apart from the thread's metadata

The history (tool calls and results included) grows with the chat; Chainlit sends thread metadata to
the browser and reads it for every thread in the sidebar, so it lives in its own table.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_histories",
        sa.Column("thread_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.UUID(), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("history", postgresql.JSONB(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agent_histories")
