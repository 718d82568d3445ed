"""The proposal payloads of SPEC §6 (seeds/002): frozen pydantic models, bounded in size."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from db.schemas import NAME_MAX, AiConfig, ColumnType, clean_options

MAX_SCHEMA_OPS = 200
MAX_DATA_OPS = 10_000
MAX_SAMPLE_ROWS = 50
MAX_VALUES_PER_ROW = 500
MAX_RESEARCH_LOG = 500
TEXT_MAX = 20_000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be empty")
    return value


class ColumnSpec(_Frozen):
    """A column to add: as in seeds/002 (`filterDisplay` is accepted under either spelling)."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    type: ColumnType = "text"
    required: bool = False
    options: list[str] | None = Field(default=None, max_length=1000)
    filter_display: str | None = Field(default=None, alias="filterDisplay", max_length=20)
    ai: AiConfig | None = None

    _name = field_validator("name")(classmethod(lambda cls, v: _clean(v)))
    _options = field_validator("options")(classmethod(lambda cls, v: clean_options(v)))


class ColumnChanges(_Frozen):
    """What a `modify` changes; a field left out stays as it is (`ai: null` makes it a plain column)."""

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    type: ColumnType | None = None
    required: bool | None = None
    options: list[str] | None = Field(default=None, max_length=1000)
    filter_display: str | None = Field(default=None, alias="filterDisplay", max_length=20)
    ai: AiConfig | None = None

    _name = field_validator("name")(classmethod(lambda cls, v: _clean(v)))
    _options = field_validator("options")(classmethod(lambda cls, v: clean_options(v)))

    @model_validator(mode="after")
    def _something(self) -> ColumnChanges:
        if not self.model_fields_set:
            raise ValueError(
                "changes must name at least one of name, type, required, options, filterDisplay, ai"
            )
        for key in ("name", "type", "required"):
            if key in self.model_fields_set and getattr(self, key) is None:
                raise ValueError(f"{key} cannot be null; leave it out to keep it")
        return self


ColumnRef = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]


class AddColumn(_Frozen):
    action: Literal["add"]
    column: ColumnSpec
    after_column_id: ColumnRef | None = None


class ModifyColumn(_Frozen):
    action: Literal["modify"]
    column_id: ColumnRef
    changes: ColumnChanges


class RemoveColumn(_Frozen):
    action: Literal["remove"]
    column_id: ColumnRef


class ReorderColumn(_Frozen):
    """Move a column right after `after_column_id` (to the front when it is null)."""

    action: Literal["reorder"]
    column_id: ColumnRef
    after_column_id: ColumnRef | None = None


SchemaOp = Annotated[AddColumn | ModifyColumn | RemoveColumn | ReorderColumn, Field(discriminator="action")]


class SchemaProposal(_Frozen):
    """`propose_schema`: a new table (mode create) or changes to one (mode update)."""

    mode: Literal["create", "update"]
    table_id: str | None = Field(default=None, max_length=100)
    table_name: str | None = Field(default=None, max_length=NAME_MAX)
    table_description: str | None = Field(default=None, max_length=10_000)
    reasoning: str = Field(default="", max_length=TEXT_MAX)
    operations: list[SchemaOp] = Field(min_length=1, max_length=MAX_SCHEMA_OPS)
    sample_rows: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_SAMPLE_ROWS)

    @field_validator("table_name")
    @classmethod
    def _table_name(cls, v: str | None) -> str | None:
        return _clean(v) if v is not None and v.strip() else None

    @field_validator("reasoning", mode="before")
    @classmethod
    def _reasoning(cls, v: Any) -> Any:
        return "" if v is None else v

    @model_validator(mode="after")
    def _shape(self) -> SchemaProposal:
        if self.mode == "create":
            if not self.table_name:
                raise ValueError("a new table needs a table_name")
            if any(op.action != "add" for op in self.operations):
                raise ValueError('a new table is made of "add" operations only')
        return self


class AddRow(_Frozen):
    action: Literal["add"]
    data: dict[str, Any] = Field(min_length=1, max_length=MAX_VALUES_PER_ROW)


class UpdateRow(_Frozen):
    action: Literal["update"]
    row_id: int = Field(ge=1)
    changes: dict[str, Any] = Field(min_length=1, max_length=MAX_VALUES_PER_ROW)


class DeleteRow(_Frozen):
    action: Literal["delete"]
    row_id: int = Field(ge=1)


DataOp = Annotated[AddRow | UpdateRow | DeleteRow, Field(discriminator="action")]


class ResearchEntry(_Frozen):
    """One step of the research behind a data proposal (free-form fields are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    step: str | int | None = None
    query: str | None = Field(default=None, max_length=TEXT_MAX)
    source: str | None = Field(default=None, max_length=TEXT_MAX)
    note: str | None = Field(default=None, max_length=TEXT_MAX)


class DataProposal(_Frozen):
    """`propose_data`: rows to add, update and delete in one table."""

    table_id: str | None = Field(default=None, max_length=100)
    reasoning: str = Field(default="", max_length=TEXT_MAX)
    operations: list[DataOp] = Field(min_length=1, max_length=MAX_DATA_OPS)
    research_log: list[Annotated[str, Field(max_length=TEXT_MAX)] | ResearchEntry] | None = Field(
        default=None, max_length=MAX_RESEARCH_LOG
    )

    @field_validator("reasoning", mode="before")
    @classmethod
    def _reasoning(cls, v: Any) -> Any:
        return "" if v is None else v


class TableChange(_Frozen):
    """`propose_table_change`: delete a table, rename a table, or rename the chat's workspace (one
    operation; the preview shows what is lost or what the new name is)."""

    action: Literal["delete_table", "rename_table", "rename_workspace"]
    table_id: str | None = Field(default=None, max_length=100)
    new_name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    reasoning: str = Field(default="", max_length=TEXT_MAX)

    @field_validator("new_name")
    @classmethod
    def _new_name(cls, v: str | None) -> str | None:
        return _clean(v)

    @field_validator("reasoning", mode="before")
    @classmethod
    def _reasoning(cls, v: Any) -> Any:
        return "" if v is None else v

    @property
    def operations(self) -> list[TableChange]:
        """One operation: itself (what apply and the decisions count)."""
        return [self]


Proposal = SchemaProposal | DataProposal | TableChange


def kind_of(proposal: Proposal) -> Literal["schema_create", "schema_update", "data", "table_change"]:
    """The `proposals.kind` stored for a payload."""
    if isinstance(proposal, TableChange):
        return "table_change"
    if isinstance(proposal, DataProposal):
        return "data"
    return "schema_create" if proposal.mode == "create" else "schema_update"


def to_json(proposal: Proposal) -> dict[str, Any]:
    """The payload as stored: only the fields that were given (so `ai: null` keeps its meaning)."""
    return proposal.model_dump(mode="json", by_alias=True, exclude_unset=True)


def from_json(kind: str, payload: dict[str, Any]) -> Proposal:
    """The stored payload of a proposal of `kind` as a model again (a revert's own part left out)."""
    if kind == "table_change":
        return TableChange.model_validate(payload)
    if "revert" in payload:
        payload = {k: v for k, v in payload.items() if k != "revert"}
    return DataProposal.model_validate(payload) if kind == "data" else SchemaProposal.model_validate(payload)
