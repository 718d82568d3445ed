"""What every agent tool shares: its context, its result, the events it sends to the UI, and `Tool`."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.engine import transaction

# as the user meets it: a new table, column changes, rows, a table deleted, a table or workspace renamed
ProposalKind = Literal["create", "update", "data", "delete", "rename"]
# the buttons of each kind of proposal preview, which the agent's reply must name
BUTTONS: dict[ProposalKind, tuple[str, str]] = {
    "create": ("Create Table", "Dismiss"), "update": ("Apply", "Dismiss"), "data": ("Apply", "Dismiss"),
    "delete": ("Delete", "Dismiss"), "rename": ("Apply", "Dismiss")}
STORED_KIND: dict[str, ProposalKind] = {"schema_create": "create", "schema_update": "update", "data": "data"}


async def _ignore(_event: object) -> None:
    return None


WorkspaceRef = uuid.UUID | Callable[[], Awaitable[uuid.UUID]] | None


@dataclass
class ToolContext:
    """Who is asking and where: the tools read and write only through this."""

    account_id: uuid.UUID
    workspace_id: WorkspaceRef = None
    thread_id: str | None = None
    active_table_id: uuid.UUID | None = None
    engine: AsyncEngine | None = None
    emit: Callable[[object], Awaitable[None]] = _ignore
    _workspace: uuid.UUID | None = field(default=None, init=False, repr=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction as this account, under row-level security."""
        async with transaction(self.account_id, engine=self.engine) as conn:
            yield conn

    async def workspace(self) -> uuid.UUID | None:
        """The thread's workspace; it may be given as a coroutine function because it is created lazily."""
        if self._workspace is None and self.workspace_id is not None:
            ref = self.workspace_id
            self._workspace = ref if isinstance(ref, uuid.UUID) else await ref()
        return self._workspace


@dataclass(frozen=True)
class ToolResult:
    """What goes back to the model as a tool_result; `ends_turn` when a proposal awaits the user."""

    content: str | dict[str, Any]
    is_error: bool = False
    ends_turn: bool = False

    def text(self) -> str:
        """The content as the text of a tool_result block."""
        if isinstance(self.content, str):
            return self.content
        return json.dumps(self.content, ensure_ascii=False, separators=(",", ":"), default=str)


def error(message: str) -> ToolResult:
    """An is_error result the model can read and act on."""
    return ToolResult(f"Error: {message}", is_error=True)


class ToolError(Exception):
    """Raised inside a tool for a problem the model can fix; `run_tool` turns it into an error result."""


@dataclass(frozen=True)
class ProposalEvent:
    """A new proposal to render inline in the conversation (and the ones it superseded)."""

    proposal_id: uuid.UUID
    kind: str  # schema_create | schema_update | data
    table_id: uuid.UUID | None
    payload: dict[str, Any]
    preview: Any = None
    superseded: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True)
class AnalysisEvent:
    """A result to show in the conversation: a small table (a pandas DataFrame) and maybe a Plotly figure."""

    title: str
    frame: Any
    figure: Any = None
    total_rows: int = 0


@dataclass(frozen=True)
class FileEvent:
    """A file to attach to the reply as a download."""

    name: str
    mime: str
    content: bytes


@dataclass(frozen=True)
class JobEvent:
    """A fill job started: the conversation follows its progress until it ends."""

    job_id: uuid.UUID
    table_id: uuid.UUID
    column_id: uuid.UUID
    column_name: str
    total: int


ToolFn = Callable[[ToolContext, Any], Awaitable[ToolResult]]


@dataclass(frozen=True)
class Tool:
    """A name, a description written for the model, a pydantic input model, and one async function."""

    name: str
    description: str
    input_model: type[BaseModel]
    fn: ToolFn
    # for an input the model refused: the problems its checks would find besides (run_tool adds them)
    more_problems: Callable[[ToolContext, Any], Awaitable[list[str]]] | None = None

    def definition(self) -> dict[str, Any]:
        """The Anthropic tool definition; the schema comes from the input model."""
        schema = _lean(self.input_model.model_json_schema(by_alias=True))
        schema.pop("description", None)
        return {"name": self.name, "description": self.description, "input_schema": schema}


def _lean(node: Any, *, names: bool = False) -> Any:
    """The schema without generated titles and pydantic's `discriminator` hint: tokens the model pays
    for on every call without learning anything (the union's `const` tags already say it)."""
    if isinstance(node, list):
        return [_lean(n) for n in node]
    if not isinstance(node, dict):
        return node
    if names:  # keys of `properties` / `$defs` are names, not keywords
        return {k: _lean(v) for k, v in node.items()}
    return {
        k: _lean(v, names=k in ("properties", "$defs"))
        for k, v in node.items()
        if k != "discriminator" and not (k == "title" and isinstance(v, str))
    }


def tool(input_model: type[BaseModel], *, name: str | None = None,
         more_problems: Callable[[ToolContext, Any], Awaitable[list[str]]] | None = None
         ) -> Callable[[ToolFn], Tool]:
    """Make a `Tool` of an async function; its docstring is the description the model reads."""

    def wrap(fn: ToolFn) -> Tool:
        return Tool(name or fn.__name__, inspect.cleandoc(fn.__doc__ or ""), input_model, fn, more_problems)

    return wrap
