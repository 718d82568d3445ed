"""Turning history off and on in the bench's database, to time writes without it against writes with it
in one run: off puts back the feed triggers of before migration 0012 (no change set, no previous
value), drops the index of a row's versions, stops fill jobs opening change sets, and makes the app's
`change_sets.ensure` (and `ensure_cte`) do nothing; on puts everything back. The bench runs as the owner of the schema."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from db import change_sets

MIGRATION = Path(__file__).resolve().parents[1] / "db" / "migrations" / "versions" / "0012_change_sets.py"
INDEX = "CREATE INDEX IF NOT EXISTS ix_changes_record_history ON changes (record_id, seq) WHERE record_id IS NOT NULL"


def _migration() -> Any:
    spec = importlib.util.spec_from_file_location("_history_migration", MIGRATION)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _no_change_set(*_args: Any, **_kwargs: Any) -> None:
    return None


def _no_change_set_cte(**_kwargs: Any) -> tuple[str, str, dict[str, Any]]:
    return "cs_none AS (SELECT 1)", "NULL", {}


async def set_history(engine: AsyncEngine, on: bool) -> None:
    rev = _migration()
    statements = [rev.TRIGGERS, INDEX, "ALTER TABLE jobs ENABLE TRIGGER jobs_change_set"] if on else \
        [*rev.previous_triggers(), "DROP INDEX IF EXISTS ix_changes_record_history",
         "ALTER TABLE jobs DISABLE TRIGGER jobs_change_set"]
    async with engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        for statement in statements:  # several statements each: asyncpg's simple query protocol runs them
            await raw.execute(statement)
    change_sets.ensure = _ENSURE if on else _no_change_set  # type: ignore[assignment]
    change_sets.ensure_cte = _ENSURE_CTE if on else _no_change_set_cte  # type: ignore[assignment]


_ENSURE, _ENSURE_CTE = change_sets.ensure, change_sets.ensure_cte


@asynccontextmanager
async def history_off(engine: AsyncEngine) -> AsyncIterator[None]:
    """History off for the block (pooled connections re-plan: their cached trigger plans are invalidated)."""
    await set_history(engine, False)
    try:
        yield
    finally:
        await set_history(engine, True)
