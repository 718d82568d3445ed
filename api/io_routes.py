"""Import (CSV/XLSX upload → a new table, or rows into a table) and export (CSV/XLSX download)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from pydantic import BaseModel, Field

from api.auth import CallerDep
from api.common import TableId, ensure_writer, errors, workspace_for
from api.jobs_routes import read_jobs, tell_jobs
from dataio.export import CSV_MIME, XLSX_MIME, export_csv, export_filename, export_xlsx
from dataio.importer import default_name, import_into_table, import_new_table
from dataio.infer import plan_import
from dataio.read import ParsedTable, check_size, read_table_file
from db import tables
from db.schemas import TablePublic

router = APIRouter(tags=["import and export"])

Upload = Annotated[UploadFile, File(description="A CSV (comma, semicolon or tab separated) or .xlsx file, "
                                                "at most 200 MB (TABLECHAT_IMPORT_MAX_MB); the format is told by the "
                                                "content")]


class ImportedTable(TablePublic):
    """The new table, how many rows it received, and what was adjusted on the way (renamed headers…)."""

    row_count: int
    notes: list[str]


class ImportReport(BaseModel):
    """What an import into an existing table did."""

    added: int
    updated: int
    unchanged: int
    row_count: int
    notes: list[str]
    jobs: list[uuid.UUID] = Field(default_factory=list, description="The fills queued for the added rows' AI "
                                  "cells, one per AI column (also in the `X-Fill-Job` header)")


async def _parse(upload: UploadFile) -> ParsedTable:
    """The uploaded file read as a table, off the event loop (parsing 100,000 rows takes a second)."""
    if upload.size is not None:
        check_size(upload.size)  # before reading a spooled upload into memory
    data = await upload.read()
    return await asyncio.to_thread(read_table_file, data, upload.filename or "upload")


@router.post("/tables/import", status_code=201, response_model=ImportedTable, responses=errors(403))
async def import_table(
    caller: CallerDep,
    file: Upload,
    name: Annotated[str | None, Form(max_length=200, description="Table name (default: from the file name)")] = None,
    description: Annotated[str, Form(max_length=10_000)] = "",
    workspace_id: Annotated[uuid.UUID | None, Form(description="Default: the caller's most recently used workspace")] = None,
) -> ImportedTable:
    """Create a table from a CSV or XLSX file: column types are inferred from the values and every row
    is imported, all in one transaction (a bad file leaves nothing behind)."""
    parsed = await _parse(file)
    plan = await asyncio.to_thread(plan_import, parsed)
    workspace_id = await workspace_for(caller, workspace_id)
    async with caller.tx() as conn:
        await ensure_writer(conn, workspace_id)
        result = await import_new_table(conn, workspace_id, parsed, (name or "").strip() or default_name(
            parsed.filename), description=description, plan=plan)
    return ImportedTable(**result.table.model_dump(), row_count=result.added, notes=result.notes)


@router.post("/tables/{table_id}/import", response_model=ImportReport, responses=errors(409))
async def import_rows(
    caller: CallerDep,
    table_id: TableId,
    response: Response,
    file: Upload,
    key_column: Annotated[str | None, Form(description="Update the rows whose value in this column matches "
                                                       "the file's (adding the others); default: add all")] = None,
) -> ImportReport:
    """Add a file's rows to the table, or update rows matched on `key_column`. File columns are matched
    to the table's by name; an empty cell leaves the stored value as it is. All or nothing. The added
    rows' AI cells are queued (one fill job per AI column, in `jobs`); AI cells the file gives a value
    keep it, pinned; AI cells reading an updated cell turn stale, as after any edit."""
    parsed = await _parse(file)
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        result = await import_into_table(conn, table, parsed, key_column or None, account_id=caller.account_id)
        started = await read_jobs(conn, result.jobs)
    await tell_jobs(response, started)
    return ImportReport(added=result.added, updated=result.updated, unchanged=result.unchanged,
                        row_count=result.row_count, notes=result.notes, jobs=[j.id for j in started])


@router.get("/tables/{table_id}/export", response_class=Response,
            responses={200: {"description": "The table as a file",
                             "content": {CSV_MIME: {}, XLSX_MIME: {}}}})
async def export_table(
    caller: CallerDep,
    table_id: TableId,
    format: Annotated[Literal["csv", "xlsx"], Query(description="File format")] = "csv",
) -> Response:
    """Download the table as CSV (formula-looking text neutralised with a leading ') or XLSX."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        body = await (export_csv(conn, table) if format == "csv" else export_xlsx(conn, table))
    filename = export_filename(table, format)
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return Response(
        content=body, media_type=CSV_MIME if format == "csv" else XLSX_MIME,
        headers={"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                                        f"filename*=UTF-8''{quote(filename)}"},
    )
