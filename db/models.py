"""The relational model. Row values live in one JSONB document per record, with per-cell state
(version, compute status, error, pinned) in a second JSONB document beside it: see docs/storage.md.

Long because every table of the schema is declared here, in one place, for Alembic to compare with the
migrations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Account(Base):
    """A person who logs in. (Chainlit's own `users` table is separate: it keys chat history.)"""

    __tablename__ = "accounts"
    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[uuid.UUID] = _uuid_pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginSession(Base):
    """One sign-in of the chat pages; its id is in the login cookie, and logout revokes it."""

    __tablename__ = "login_sessions"
    id: Mapped[uuid.UUID] = _uuid_pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Workspace(Base):
    """The unit of isolation; every table belongs to one."""

    __tablename__ = "workspaces"
    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _created()


class Membership(Base):
    """Who may do what in a workspace: `owner` (its members, name, deletion), `editor` (data and schema),
    `viewer` (reads). Row-level security enforces it too (migration 0011)."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'editor', 'viewer')", name="role"),
        Index("ix_memberships_account_recent", "account_id", text("last_used_at DESC")),
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(20), server_default="owner")
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DataTable(Base):
    __tablename__ = "data_tables"
    __table_args__ = (UniqueConstraint("id", "workspace_id", name="uq_data_tables_id_workspace"),)
    id: Mapped[uuid.UUID] = _uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Column(Base):
    __tablename__ = "columns"
    __table_args__ = (UniqueConstraint("table_id", "name", name="uq_columns_table_name"),)
    id: Mapped[uuid.UUID] = _uuid_pk()
    table_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_tables.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    required: Mapped[bool] = mapped_column(Boolean, server_default="false")
    options: Mapped[list[str] | None] = mapped_column(JSONB)
    filter_display: Mapped[str | None] = mapped_column(String(20))
    ai: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()


class Record(Base):
    """A row: `data` maps column id → value; `meta` maps column id → cell state
    `{"v": version, "s": status, "e": error, "p": pinned}` (absent = version 0, idle)."""

    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_table_id_id", "table_id", "id", postgresql_include=["workspace_id"]),
        ForeignKeyConstraint(
            ["table_id", "workspace_id"], ["data_tables.id", "data_tables.workspace_id"],
            ondelete="CASCADE", name="fk_records_table_workspace",
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    table_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    meta: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Change(Base):
    """The change feed, written by triggers: one row per write to a table, column, record or cell.
    No foreign key on the table, so that a deletion stays readable."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_table_id_seq", "table_id", "seq"),)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    table_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # table | column | record | cell
    op: Mapped[str] = mapped_column(String(10))  # insert | update | delete
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    column_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()
    # the change set the write belonged to, and what it replaced: a cell's previous value (SQL NULL when
    # only its state changed), a deleted row's {data, meta}, a column's or table's previous definition
    change_set: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    prev: Mapped[Any | None] = mapped_column(JSONB)


# a row's and its cells' versions in order (record ids are unique across tables)
Index("ix_changes_record_history", Change.record_id, Change.seq, postgresql_where=text("record_id IS NOT NULL"))


class ChangeSet(Base):
    """One user-visible write: an applied proposal, a cell edit, a fill job (its id is the job's), an
    import or a revert. Its feed rows carry its id (`changes.change_set`). No foreign key on the table,
    so that the history of a deleted table stays readable."""

    __tablename__ = "change_sets"
    __table_args__ = (
        Index("ix_change_sets_table", "table_id", text("created_at DESC")),
        Index("ix_change_sets_proposal", "proposal_id", postgresql_where=text("proposal_id IS NOT NULL")),
    )
    id: Mapped[uuid.UUID] = _uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    table_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(20))  # proposal | edit | fill | import | revert
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    summary: Mapped[str] = mapped_column(Text, server_default="")
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reverts: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reverted_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    base_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = _created()


class CellEdit(Base):
    """Audit of every manual edit."""

    __tablename__ = "cell_edits"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    table_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    record_id: Mapped[int] = mapped_column(BigInteger)
    column_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    old_value: Mapped[Any] = mapped_column(JSONB)
    new_value: Mapped[Any] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(String(20), server_default="manual")
    created_at: Mapped[datetime] = _created()


class AiRun(Base):
    """Audit of every LLM call that filled cells."""

    __tablename__ = "ai_runs"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    table_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    column_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    record_ids: Mapped[list[int]] = mapped_column(JSONB)
    model: Mapped[str] = mapped_column(String(100))
    prompt_hash: Mapped[str] = mapped_column(String(64))
    input_hash: Mapped[str] = mapped_column(String(64))
    input_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    cache_read_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    cache_write_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    latency_ms: Mapped[float] = mapped_column(Float, server_default="0")
    cost_usd: Mapped[float] = mapped_column(Numeric(12, 6), server_default="0")
    success: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    request: Mapped[str | None] = mapped_column(Text)  # the user message as sent (the rows and their inputs)
    answer: Mapped[str | None] = mapped_column(Text)  # the model's raw answer


class Proposal(Base):
    __tablename__ = "proposals"
    id: Mapped[uuid.UUID] = _uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    thread_id: Mapped[str | None] = mapped_column(String(64), index=True)
    table_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(20))  # schema_create | schema_update | data
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    base_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    results: Mapped[list[Any] | None] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created()
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Job(Base):
    """An AI fill of one column over a scope of rows (`write`), or a preview of its values (`preview`:
    computed into `job_results`, no cell changes; `spec` is the column it computes)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_active", "updated_at", postgresql_where=text("status IN ('queued', 'running')")),
    )
    id: Mapped[uuid.UUID] = _uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    table_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    column_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    thread_id: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[Any] = mapped_column(JSONB)
    mode: Mapped[str] = mapped_column(String(10), server_default="write")  # write | preview
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), server_default="queued")
    total: Mapped[int] = mapped_column(Integer, server_default="0")
    done: Mapped[int] = mapped_column(Integer, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, server_default="0")
    cost_usd: Mapped[float] = mapped_column(Numeric(12, 6), server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(20), server_default="fill")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobResult(Base):
    """One row of a preview job: its working state while the workers compute it, then its value (or
    why there is none). The cells of the table are never touched."""

    __tablename__ = "job_results"
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")  # pending computing done error
    value: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    not_before: Mapped[float] = mapped_column(Float, server_default="0")
    claim: Mapped[str | None] = mapped_column(String(32))
    worker: Mapped[int | None] = mapped_column(BigInteger)
    claimed_at: Mapped[float | None] = mapped_column(Float)
    input_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Outbox(Base):
    """Messages written in the same transaction as the rows they concern, relayed to Redis later."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    queue: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")


class AgentHistory(Base):
    """The agent's conversation of one chat thread (Anthropic message format, tool results included)."""

    __tablename__ = "agent_histories"
    thread_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    history: Mapped[list[Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ColumnPrefs(Base):
    """How one person lays out one table's grid: the columns they hide and the widths they dragged to.
    Kept on the server so the layout follows them to another browser or device."""

    __tablename__ = "column_prefs"
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    table_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_tables.id", ondelete="CASCADE"), primary_key=True,
                                                index=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    hidden: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    widths: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
