"""`export_table`: the table as a CSV or XLSX file attached to the reply; the model gets only its name and size."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dataio.export import CSV_MIME, XLSX_MIME, export_csv, export_filename, export_xlsx
from db.records import count_records
from tools.base import FileEvent, ToolContext, ToolResult, tool
from tools.tables import resolve_table


class ExportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table_id: str | None = Field(default=None, description="The active table when left out")
    format: Literal["csv", "xlsx"] = "csv"


@tool(ExportInput, name="export_table")
async def export_table(ctx: ToolContext, args: ExportInput) -> ToolResult:
    """Export a whole table (table_id: the active table when left out) as a CSV or XLSX file, attached to
    your reply as a download the user clicks. You get the file's name and row count, not its content: tell
    the user the download is attached below the reply."""
    async with ctx.transaction() as conn:
        table = await resolve_table(ctx, conn, args.table_id)
        rows = await count_records(conn, table.id)
        body = await (export_csv(conn, table) if args.format == "csv" else export_xlsx(conn, table))
    name = export_filename(table, args.format)
    await ctx.emit(FileEvent(name=name, mime=CSV_MIME if args.format == "csv" else XLSX_MIME, content=body))
    return ToolResult({"file": name, "format": args.format, "rows": rows, "columns": len(table.columns),
                       "bytes": len(body), "status": "attached to your reply as a download"})
