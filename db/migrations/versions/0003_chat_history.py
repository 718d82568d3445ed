"""chat history: the tables Chainlit's SQLAlchemy data layer reads and writes

Revision ID: 0003
Revises: 0002

Column names and types follow the SQL in chainlit/data/sql_alchemy.py (2.12), which quotes camelCase
names. Beyond the documented schema: steps need "autoCollapse" (and "modes"), elements "autoPlay" and
"playerConfig", or every insert that carries them fails and the data layer only logs a warning.
Timestamps stay TEXT because Chainlit writes and compares ISO strings. These tables are separate from
`accounts`: Chainlit keys history by the user's identifier (the account name).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _thread_fk(table: str, nullable: bool = False) -> list:
    return [
        sa.Column("threadId", UUID(), nullable=nullable),
        sa.ForeignKeyConstraint(
            ["threadId"], ["threads.id"], name=f"fk_{table}_threadId_threads", ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", UUID(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("metadata", JSONB(), nullable=False),
        sa.Column("createdAt", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("identifier", name="uq_users_identifier"),
    )
    op.create_table(
        "threads",
        sa.Column("id", UUID(), nullable=False),
        sa.Column("createdAt", sa.Text()),
        sa.Column("name", sa.Text()),
        sa.Column("userId", UUID()),
        sa.Column("userIdentifier", sa.Text()),
        sa.Column("tags", ARRAY(sa.Text())),
        sa.Column("metadata", JSONB()),
        sa.PrimaryKeyConstraint("id", name="pk_threads"),
        sa.ForeignKeyConstraint(["userId"], ["users.id"], name="fk_threads_userId_users", ondelete="CASCADE"),
    )
    op.create_index("ix_threads_userId", "threads", ["userId"])
    # a new chat looks for the account's workspaces that no thread has claimed yet
    op.create_index("ix_threads_workspace_id", "threads", [sa.text("(metadata ->> 'workspace_id')")])
    op.create_table(
        "steps",
        sa.Column("id", UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        *_thread_fk("steps"),
        sa.Column("parentId", UUID()),
        sa.Column("streaming", sa.Boolean(), nullable=False),
        sa.Column("waitForAnswer", sa.Boolean()),
        sa.Column("isError", sa.Boolean()),
        sa.Column("metadata", JSONB()),
        sa.Column("tags", ARRAY(sa.Text())),
        sa.Column("input", sa.Text()),
        sa.Column("output", sa.Text()),
        sa.Column("createdAt", sa.Text()),
        sa.Column("command", sa.Text()),
        sa.Column("modes", JSONB()),
        sa.Column("start", sa.Text()),
        sa.Column("end", sa.Text()),
        sa.Column("generation", JSONB()),
        sa.Column("showInput", sa.Text()),
        sa.Column("language", sa.Text()),
        sa.Column("indent", sa.Integer()),
        sa.Column("defaultOpen", sa.Boolean()),
        sa.Column("autoCollapse", sa.Boolean()),
        sa.PrimaryKeyConstraint("id", name="pk_steps"),
    )
    # serves a thread's steps and its last activity (the order of the history list)
    op.create_index("ix_steps_threadId_createdAt", "steps", ["threadId", "createdAt"])
    op.create_table(
        "elements",
        sa.Column("id", UUID(), nullable=False),
        *_thread_fk("elements", nullable=True),
        sa.Column("type", sa.Text()),
        sa.Column("url", sa.Text()),
        sa.Column("chainlitKey", sa.Text()),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("display", sa.Text()),
        sa.Column("objectKey", sa.Text()),
        sa.Column("size", sa.Text()),
        sa.Column("page", sa.Integer()),
        sa.Column("language", sa.Text()),
        sa.Column("forId", UUID()),
        sa.Column("mime", sa.Text()),
        sa.Column("props", JSONB()),
        sa.Column("autoPlay", sa.Boolean()),
        sa.Column("playerConfig", JSONB()),
        sa.PrimaryKeyConstraint("id", name="pk_elements"),
    )
    op.create_index("ix_elements_threadId", "elements", ["threadId"])
    op.create_index("ix_elements_forId", "elements", ["forId"])
    op.create_table(
        "feedbacks",
        sa.Column("id", UUID(), nullable=False),
        sa.Column("forId", UUID(), nullable=False),
        # Chainlit leaves threadId out when the client does not send it; the row must still save.
        *_thread_fk("feedbacks", nullable=True),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_feedbacks"),
    )
    op.create_index("ix_feedbacks_forId", "feedbacks", ["forId"])


def downgrade() -> None:
    for table in ("feedbacks", "elements", "steps", "threads", "users"):
        op.drop_table(table)
