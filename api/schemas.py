"""Request and response shapes that only the REST API has (the shared ones live in db.schemas)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from db.schemas import (
    NAME_MAX,
    CellPublic,
    ColumnPublic,
    ColumnType,
    ColumnUpdate,
    TableCreate,
    TableSummary,
    TableUpdate,
)

MAX_BULK_ROWS = 10_000


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """Every error: a stable code, a message for people, and details for programs."""

    error: ErrorBody


class WorkspacePublic(BaseModel):
    id: uuid.UUID
    name: str
    role: Literal["owner", "editor", "viewer"] = Field(description="The caller's role in it")
    tables: int | None = Field(None, description="How many tables it holds")
    created_at: dt.datetime | None = None


class WorkspaceList(BaseModel):
    """The caller's workspaces, most recently used first."""

    items: list[WorkspacePublic]


class WorkspaceCreate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100, description="Default: a fresh three-word name")


class WorkspacePatch(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class MemberIn(BaseModel):
    user: str = Field(min_length=1, max_length=64, description="The user name to share with")
    role: Literal["owner", "editor", "viewer"]


class MemberPublic(BaseModel):
    user: str
    role: Literal["owner", "editor", "viewer"]


class MemberList(BaseModel):
    items: list[MemberPublic]


class Me(BaseModel):
    id: uuid.UUID
    name: str
    workspaces: list[WorkspacePublic]


class TableCreateIn(TableCreate):
    """A new table, in `workspace_id` (default: the caller's most recently used workspace)."""

    workspace_id: uuid.UUID | None = None


class TablePatch(TableUpdate):
    """New name and/or description; leave a field out to keep it."""

    name: str = Field(default=None, min_length=1, max_length=NAME_MAX)  # type: ignore[assignment]
    description: str = Field(default=None, max_length=10_000)  # type: ignore[assignment]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value


class TableList(BaseModel):
    items: list[TableSummary]


class ColumnPatch(ColumnUpdate):
    """Changes to a column; leave a field out to keep it. Only options, filterDisplay and ai can be
    cleared with null (the service layer reads a null name, type or required as a value)."""

    name: str = Field(default=None, min_length=1, max_length=NAME_MAX)  # type: ignore[assignment]
    type: ColumnType = None  # type: ignore[assignment]
    required: bool = None  # type: ignore[assignment]
    position: int = Field(default=None, ge=0, le=100_000)  # type: ignore[assignment]

    def to_update(self) -> ColumnUpdate:
        return ColumnUpdate.model_validate(self.model_dump(exclude_unset=True))


class ColumnList(BaseModel):
    items: list[ColumnPublic]


class RecordsBulkCreate(BaseModel):
    """Many rows in one statement: each row maps column name or id to value."""

    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BULK_ROWS)


class RecordsCreated(BaseModel):
    ids: list[int]
    count: int
    jobs: list[uuid.UUID] = Field(default_factory=list, description="The fills queued for the new rows' AI "
                                  "cells, one per AI column (follow one with `GET /jobs/{id}`)")


MAX_BLOCK_CELLS = 10_000


class CellEditItem(BaseModel):
    """One cell of a block: its row, its column (id or name), the new value and the version it was based on."""

    model_config = ConfigDict(extra="forbid")
    record_id: int = Field(ge=1, le=2**63 - 1)
    column: str = Field(min_length=1, max_length=200)
    value: Any = None
    version: int = Field(ge=0)


class CellBlock(BaseModel):
    """Cells to write as one change: all of them, or (409) none."""

    model_config = ConfigDict(extra="forbid")
    cells: list[CellEditItem] = Field(min_length=1, max_length=MAX_BLOCK_CELLS)


class RecordIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=MAX_BULK_ROWS)


class RecordsDeleted(BaseModel):
    deleted: int = Field(description="How many of the named rows were deleted (rows already gone are skipped)")
    change_id: str | None = Field(None, description="The change set of the deletion: `POST /changes/{id}/revert` brings the rows back")


class CellItem(CellPublic):
    record_id: int


class CellList(BaseModel):
    items: list[CellItem]
    limit: int
    offset: int


class CellsWritten(BaseModel):
    cells: list[CellItem] = Field(description="Each cell of the block as written, in the order sent")


class ColumnPrefs(BaseModel):
    """How the caller lays out this table's grid: the columns they hide and the widths (px) they set."""

    model_config = ConfigDict(extra="forbid")
    hidden: list[str] = Field(default_factory=list, max_length=1000, description="Column ids (or names) hidden")
    widths: dict[str, Annotated[int, Field(ge=40, le=2000)]] = Field(
        default_factory=dict, max_length=1000, description="Column id (or name) → width in pixels")
