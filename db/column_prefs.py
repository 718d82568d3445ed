"""One person's layout of one table's grid: hidden columns and column widths (per account and table)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schemas import TablePublic


async def get_prefs(conn: AsyncConnection, account_id: uuid.UUID, table: TablePublic) -> dict[str, Any]:
    """`{hidden: [column id], widths: {column id: px}}`, only of columns the table still has."""
    row = (await conn.execute(
        text("SELECT hidden, widths FROM column_prefs WHERE account_id = :a AND table_id = :t"),
        {"a": account_id, "t": table.id},
    )).first()
    known = {str(c.id) for c in table.columns}
    hidden = [c for c in (row.hidden if row else []) if c in known]
    widths = {c: w for c, w in (row.widths if row else {}).items() if c in known}
    return {"hidden": hidden, "widths": widths}


async def save_prefs(conn: AsyncConnection, account_id: uuid.UUID, table: TablePublic, *, hidden: list[str],
                     widths: dict[str, int]) -> dict[str, Any]:
    await conn.execute(
        text("INSERT INTO column_prefs (account_id, table_id, workspace_id, hidden, widths) "
             "VALUES (:a, :t, :w, CAST(:h AS jsonb), CAST(:wd AS jsonb)) "
             "ON CONFLICT (account_id, table_id) DO UPDATE SET hidden = EXCLUDED.hidden, widths = EXCLUDED.widths, "
             "updated_at = now()"),
        {"a": account_id, "t": table.id, "w": table.workspace_id, "h": json.dumps(hidden), "wd": json.dumps(widths)},
    )
    return await get_prefs(conn, account_id, table)
