"""The one cost estimate of a fill, before it runs: for a fill of an existing column (`estimate_cost`)
and for the AI columns a schema preview would add (`fill_estimates`). Shown for fills of more than
COST_SHOWN_FROM cells.

It counts what a call of the workers carries: the column's system prompt once per call of
`rows_per_call` rows (about four characters a token), a few tokens per input value of each row, and an
answer of a size typical of the column's type. The prompt and the price table are the workers'
(worker/prompt.py, worker/llm.py): both are plain functions, with no broker and no SDK behind them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import get_settings
from db import ai_cells
from db.schemas import ColumnPublic, TablePublic
from db.tables import get_table
from jobs.public import CostEstimate, Scope
from worker import prompt
from worker.llm import BATCH_DISCOUNT, price

COST_SHOWN_FROM = 50  # fills larger than this show their estimated cost before they run
BATCH_OFFERED_FROM = 1000  # fills larger than this are offered as a batch too (half the price, slower)
# how long a realtime call takes, roughly: a second to start, then the answer at this many tokens a second
CALL_START_S, OUTPUT_TOKENS_PER_S = 1.0, 100.0
EST_OUTPUT_TOKENS_PER_CELL = {"long_text": 300, "text": 40, "json": 80, "multi_select": 12}
EST_INPUT_TOKENS_PER_VALUE = 30


def usd(column: ColumnPublic, deps: Sequence[ColumnPublic], cells: int, model: str, *,
        inputs: int | None = None) -> float:
    """Roughly what `cells` cells of `column` cost with `model`, reading `deps` (or `inputs` values a
    row when the columns read are not known yet)."""
    inp, out = price(model)
    calls = -(-cells // get_settings().rows_per_call)
    values = len(deps) if inputs is None else inputs
    input_tokens = calls * len(prompt.prefix(column, deps).system) / 4 + cells * (
        values * EST_INPUT_TOKENS_PER_VALUE + 10)
    output_tokens = cells * EST_OUTPUT_TOKENS_PER_CELL.get(column.type, 8)
    return round((input_tokens * inp + output_tokens * out) / 1e6, 4)


def minutes(column: ColumnPublic, cells: int) -> float:
    """Roughly how long a realtime fill of `cells` cells takes with every slot of the limiter busy."""
    settings = get_settings()
    per_call = settings.rows_per_call * EST_OUTPUT_TOKENS_PER_CELL.get(column.type, 8)
    calls = -(-cells // settings.rows_per_call)
    return max(1.0, round(calls / settings.max_concurrency * (CALL_START_S + per_call / OUTPUT_TOKENS_PER_S) / 60))


async def estimate_cost(conn: AsyncConnection, table: Any, column_id: Any, scope: Scope = "all") -> CostEstimate:
    """What a fill of `scope` would roughly cost (cells edited by hand left out unless named). `table`
    is the table or its id."""
    table = table if isinstance(table, TablePublic) else await get_table(conn, table)
    col = ai_cells.ai_column(table, column_id)
    cells = await ai_cells.count_in_scope(conn, table.id, col.id, scope)
    model = (col.ai or {}).get("model") or get_settings().cell_model
    cost = usd(col, ai_cells.dependencies(table, col), cells, model)
    return CostEstimate(cells=cells, model=model, usd=cost, minutes=minutes(col, cells),
                        batch_usd=round(cost * BATCH_DISCOUNT, 4) if cells > BATCH_OFFERED_FROM else None)


def fill_estimates(preview: Any) -> list[dict[str, Any]]:
    """For each AI column a schema preview adds: the cells its fill will cover and roughly what that
    costs, when it is more than COST_SHOWN_FROM cells (the column does not exist yet: its inputs are
    counted from the placeholders of its prompt)."""
    if getattr(preview, "kind", None) != "schema_update" or preview.total_rows <= COST_SHOWN_FROM:
        return []
    model = get_settings().cell_model
    out = []
    for c in preview.columns:
        if c.state != "added" or not c.ai_prompt:
            continue
        col = ColumnPublic(id="00000000-0000-0000-0000-000000000000", name=c.name, type=c.type, position=0,
                           required=False, options=c.options, ai={"prompt": c.ai_prompt})
        inputs = len(set(ai_cells.PLACEHOLDER.findall(c.ai_prompt)))
        out.append({"column": c.name, "cells": preview.total_rows, "model": model,
                    "usd": usd(col, [], preview.total_rows, model, inputs=inputs)})
    return out
