"""Small pieces the route modules share: documented error answers and id parsing."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path

from api.schemas import ErrorResponse
from db import accounts, workspaces
from db.errors import Forbidden, NotFound
from db.schemas import ColumnPublic, TablePublic

MAX_RECORD_ID = 2**63 - 1

TableId = Annotated[str, Path(description="The table's id", json_schema_extra={"format": "uuid"})]
ColumnKey = Annotated[str, Path(description="The column's id, or its name")]
RecordId = Annotated[str, Path(description="The row's id", json_schema_extra={"pattern": "^[0-9]+$"})]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers, all in the envelope shape."""
    text = {400: "Bad request", 401: "Missing or invalid API token", 403: "Not allowed",
            404: "Not found (or not yours)", 409: "Conflict", 413: "Body larger than 50 MB",
            422: "Invalid input", 500: "Internal error"}
    return {s: {"model": ErrorResponse, "description": text[s]} for s in statuses}


COMMON = errors(400, 401, 404, 413, 422, 500)


def parse_record_id(value: str) -> int:
    """A record id from the path; anything that is not one names no record (404, not 422)."""
    if not value.isascii() or not value.isdigit() or len(value) > 19 or not 0 < int(value) <= MAX_RECORD_ID:
        raise NotFound(f"No row {value!r} in this table", row_id=value[:40])
    return int(value)


def column_of(table: TablePublic, key: str) -> ColumnPublic:
    """A column of `table` by id, or by name (case-insensitive); 404 when there is none."""
    for col in table.columns:
        if str(col.id) == key:
            return col
    folded = key.strip().casefold()
    for col in table.columns:
        if col.name.casefold() == folded:
            return col
    raise NotFound(f"No column {key!r} in this table", column_id=key[:80])


async def workspace_for(caller: Any, workspace_id: uuid.UUID | None) -> uuid.UUID:
    """The workspace a new table goes to: the one named, else the caller's most recently used (a new
    account's first table also brings its first workspace)."""
    if workspace_id is not None:
        return workspace_id
    async with caller.system_tx() as conn:
        return (await accounts.default_workspace(conn, caller.account_id))["id"]


async def ensure_writer(conn: Any, workspace_id: uuid.UUID) -> None:
    """Forbidden unless the caller may add tables to the workspace (checked in the caller's transaction)."""
    try:
        await workspaces.require_writer(conn, workspace_id)
    except NotFound:
        raise Forbidden("That workspace is not one of yours", workspace_id=str(workspace_id)) from None
