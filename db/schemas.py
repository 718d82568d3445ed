"""Pydantic shapes shared by the REST API, the agent tools and the proposals (named by role)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ColumnType = Literal[
    "text", "long_text", "number", "boolean", "date", "select", "multi_select", "url", "email", "json"
]
COLUMN_TYPES: tuple[str, ...] = ColumnType.__args__  # type: ignore[attr-defined]
CellStatus = Literal["idle", "pending", "computing", "completed", "error", "stale"]
NAME_MAX = 200


def clean_options(options: list[str] | None) -> list[str] | None:
    """Options with white space folded and duplicates dropped, in order; each 1–200 characters."""
    if options is None:
        return None
    out: list[str] = []
    for o in options:
        o = " ".join(str(o).split())
        if not o or len(o) > NAME_MAX:
            raise ValueError("each option must be 1–200 characters")
        if o not in out:
            out.append(o)
    return out


def _clean_name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be empty")
    return value


class AiConfig(BaseModel):
    """An AI column: a prompt naming other columns as {Column Name}."""

    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=10_000)
    depends_on: list[str] = Field(default_factory=list, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    auto_update: bool = False


class ColumnCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, max_length=NAME_MAX)
    type: ColumnType = "text"
    required: bool = False
    options: list[str] | None = Field(default=None, max_length=1000)
    filter_display: str | None = Field(default=None, alias="filterDisplay", max_length=20)
    ai: AiConfig | None = None
    position: int | None = Field(default=None, ge=0, le=100_000)

    _name = field_validator("name")(classmethod(lambda cls, v: _clean_name(v)))

    _options = field_validator("options")(classmethod(lambda cls, v: clean_options(v)))


class ColumnUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    type: ColumnType | None = None
    required: bool | None = None
    options: list[str] | None = Field(default=None, max_length=1000)
    filter_display: str | None = Field(default=None, alias="filterDisplay", max_length=20)
    ai: AiConfig | None = None
    position: int | None = Field(default=None, ge=0, le=100_000)

    _name = field_validator("name")(classmethod(lambda cls, v: v if v is None else _clean_name(v)))

    @model_validator(mode="after")
    def _no_null_essentials(self) -> ColumnUpdate:
        for key in ("name", "type", "required"):
            if key in self.model_fields_set and getattr(self, key) is None:
                raise ValueError(f"{key} cannot be null; leave it out to keep it")
        return self


class ColumnPublic(BaseModel):
    id: uuid.UUID
    name: str
    type: ColumnType
    position: int
    required: bool
    options: list[str] | None = None
    filter_display: str | None = None
    ai: dict[str, Any] | None = None


class TableCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    description: str = Field(default="", max_length=10_000)
    columns: list[ColumnCreate] = Field(default_factory=list, max_length=500)

    _name = field_validator("name")(classmethod(lambda cls, v: _clean_name(v)))


class TableUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    description: str | None = Field(default=None, max_length=10_000)

    _name = field_validator("name")(classmethod(lambda cls, v: v if v is None else _clean_name(v)))


class TableSummary(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID | None = None
    name: str
    description: str
    row_count: int | None = None


class TablePublic(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    description: str
    columns: list[ColumnPublic]


class CellPublic(BaseModel):
    value: Any = None
    version: int = 0
    status: CellStatus = "idle"
    error: str | None = None
    pinned: bool = False


class RecordPublic(BaseModel):
    id: int
    cells: dict[str, CellPublic]


class RecordPage(BaseModel):
    items: list[RecordPublic]
    total: int
    limit: int
    offset: int


class RecordCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, Any] = Field(default_factory=dict)


class RecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, Any]


class CellUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any = None
    version: int = Field(ge=0)


class Change(BaseModel):
    seq: int
    kind: Literal["table", "column", "record", "cell"]
    op: Literal["insert", "update", "delete"]
    id: str
    record_id: int | None = None
    column_id: uuid.UUID | None = None
    data: Any = None


class ChangePage(BaseModel):
    cursor: int
    changes: list[Change]
    more: bool = False
