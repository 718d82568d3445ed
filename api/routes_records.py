"""Records, cells and the change feed of one table."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Field, TypeAdapter, ValidationError

from api.auth import CallerDep
from api.common import ColumnKey, RecordId, TableId, column_of, errors, parse_record_id
from api.jobs_routes import FILL_HEADER, read_jobs, tell_jobs
from api.schemas import (
    CellBlock,
    CellItem,
    CellList,
    CellsWritten,
    RecordIds,
    RecordsBulkCreate,
    RecordsCreated,
    RecordsDeleted,
)
from db import cell_batch, change_sets, changes, keyed_adds, records, tables
from db.record_query import BadQuery, Filter, Sort, parse_sort_names
from db.records import MAX_PAGE
from db.schemas import (
    CellPublic,
    CellUpdate,
    ChangePage,
    RecordCreate,
    RecordPage,
    RecordPublic,
    RecordUpdate,
)

router = APIRouter(tags=["records"])
MAX_OFFSET = 10**15
MAX_CURSOR = 2**63 - 1
MAX_NESTING = 6  # a list of conditions, each an object whose value may be a list of (JSON) values
MAX_FILTERS = 50
MAX_SORTS = 10
MAX_FILTER_CHARS = 8_000
MAX_SORT_CHARS = 2_000
MAX_SEARCH_CHARS = 500
_filters = TypeAdapter(list[Filter])
_sorts = TypeAdapter(list[Sort])

FILTER_HELP = ('JSON list of conditions, all of which must hold, e.g. '
               '`[{"column":"Status","op":"eq","value":"Open"}]`; ops: eq ne lt le gt ge (or gte lte) contains '
               'empty not_empty, as the column\'s type allows, and on AI columns `status` (value one of, or a list '
               'of: error stale pending computing completed idle pinned). '
               f'At most {MAX_FILTERS} conditions, {MAX_NESTING} levels of nesting, {MAX_FILTER_CHARS:,} characters')
SORT_HELP = ('Column names, `-` before a name for descending, several comma-separated: `-Points,Name`; or the '
             'JSON form `[{"column":"Points","direction":"desc"}]`. Numbers sort numerically, dates by date, '
             'text case-insensitively; empty cells last either way, then row id. '
             f'At most {MAX_SORTS} keys, {MAX_SORT_CHARS:,} characters')
SEARCH_HELP = ('Text to find (case-insensitively, anywhere in the value) in any text, long text, email, url, '
               f'select or multi-select column; at most {MAX_SEARCH_CHARS} characters')


def _serialized(model: Any) -> Response:
    """The model as JSON, without FastAPI validating it a second time against the response model (a page
    of 100 rows × 10 cells is 1,100 objects built and checked moments ago); the schema still documents it."""
    return Response(content=model.model_dump_json(), media_type="application/json")


def json_depth(raw: str) -> int:
    """How deeply arrays and objects nest in a JSON text, counted without parsing it: the parser recurses,
    and a thousand levels end in a RecursionError."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _invalid(name: str, msg: str, kind: str, *loc: Any) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", name, *loc), "msg": msg, "type": kind}])


def _json_param(name: str, raw: str | None, adapter: TypeAdapter[Any], max_items: int) -> list[Any]:
    """A filter/sort query parameter parsed from JSON (one object is taken as a list of one); anything
    malformed, too deep or too long is a 422 that names the parameter."""
    if raw is None or not raw.strip():
        return []
    if json_depth(raw) > MAX_NESTING:
        raise _invalid(name, f"nested more than {MAX_NESTING} levels deep", "too_deep")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _invalid(name, f"not valid JSON: {exc}", "json_invalid") from None
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and len(value) > max_items:
        raise _invalid(name, f"at most {max_items} clauses", "too_long")
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", name, *e["loc"])} for e in exc.errors()]) from None


def _sort_param(raw: str | None) -> list[Sort]:
    """`sort` as column names (`-Points,Name`) or, when it starts like JSON, as today's JSON list."""
    if raw is None or not raw.strip():
        return []
    if raw.lstrip()[:1] in "[{":
        return _json_param("sort", raw, _sorts, MAX_SORTS)
    sorts = parse_sort_names(raw)
    if len(sorts) > MAX_SORTS:
        raise _invalid("sort", f"at most {MAX_SORTS} clauses", "too_long")
    for n, s in enumerate(sorts):
        if not s.column:
            raise _invalid("sort", "an empty column name (a stray comma or a lone -)", "missing", n)
    return sorts


IDEMPOTENCY_HELP = ("Text unique to this add (a UUID, say): sent again with it, the call adds nothing and answers "
                    "200 with the rows the first one made (409 for a row deleted since)")


@router.post("/tables/{table_id}/records", status_code=201, response_model=RecordPublic | RecordsCreated,
             responses={201: {"headers": {FILL_HEADER: {
                 "description": "The fills queued for the new rows' AI cells (comma-separated job ids)",
                 "schema": {"type": "string"}}}},
                 200: {"model": RecordPublic | RecordsCreated,
                       "description": "Sent again under the same `Idempotency-Key`: the rows the first call made"},
                 **errors(409)})
async def create_records(
    caller: CallerDep, table_id: TableId, body: RecordCreate | RecordsBulkCreate, response: Response,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=keyed_adds.MAX_KEY_CHARS,
                                                  description=IDEMPOTENCY_HELP)] = None,
) -> RecordPublic | RecordsCreated:
    """One row `{values: {column: value}}` → the record, or up to 10,000 `{rows: [{column: value}]}` in one
    statement → their ids. Columns are named by name or id. The new rows' AI cells are queued at once,
    one fill job per AI column (ids in `jobs` and in the `X-Fill-Job` header); an AI cell given a value
    keeps it and is marked pinned. With an `Idempotency-Key` header the add happens once per key."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        rows = body.rows if isinstance(body, RecordsBulkCreate) else [body.values]
        added = await keyed_adds.add_records_once(conn, table, rows, account_id=caller.account_id, key=idempotency_key)
        if added.replayed:
            response.status_code = 200
        started = await read_jobs(conn, added.jobs)
        made: RecordPublic | RecordsCreated = (
            RecordsCreated(ids=added.ids, count=len(added.ids), jobs=[j.id for j in started])
            if isinstance(body, RecordsBulkCreate) else await keyed_adds.the_row_made(conn, table, added))
    await tell_jobs(response, started)
    return made


class RecordPageCursor(RecordPage):
    cursor: int = Field(description="The table's change number when the page was read: follow "
                        "`/updates?cursor=` from here to see every later change")


@router.get("/tables/{table_id}/records", response_model=RecordPageCursor)
async def list_records(
    caller: CallerDep,
    table_id: TableId,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    filter: Annotated[str | None, Query(max_length=MAX_FILTER_CHARS, description=FILTER_HELP)] = None,
    sort: Annotated[str | None, Query(max_length=MAX_SORT_CHARS, description=SORT_HELP)] = None,
    q: Annotated[str | None, Query(max_length=MAX_SEARCH_CHARS, description=SEARCH_HELP)] = None,
) -> Response:
    """One page of rows (insertion order unless sorted), the total that match the filter and the search,
    and the cursor of the change feed as of this page."""
    filters = _json_param("filter", filter, _filters, MAX_FILTERS)
    sorts = _sort_param(sort)
    if q is not None and "\x00" in q:
        raise _invalid("q", "contains a NUL character", "string_invalid")
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        # read before the rows: a change made meanwhile is then replayed, never missed
        cursor = await tables.current_seq(conn, table.id)
        try:
            found = await records.list_records(conn, table, limit=limit, offset=offset, filters=filters,
                                               sort=sorts, search=q)
        except BadQuery as exc:
            loc = () if exc.clause is None else (exc.clause,)
            raise _invalid(exc.param, exc.problem, "bad_" + exc.param, *loc) from None
    return _serialized(RecordPageCursor.model_construct(**dict(found), cursor=cursor))


@router.get("/tables/{table_id}/records/{record_id}", response_model=RecordPublic)
async def get_record(caller: CallerDep, table_id: TableId, record_id: RecordId) -> RecordPublic:
    """One row with all its cells."""
    rid = parse_record_id(record_id)
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        return await records.get_record(conn, table, rid)


@router.patch("/tables/{table_id}/records/{record_id}", response_model=RecordPublic)
async def update_record(caller: CallerDep, table_id: TableId, record_id: RecordId, body: RecordUpdate) -> RecordPublic:
    """Set several cells of one row without a version check (each cell's version still goes up)."""
    rid = parse_record_id(record_id)
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        return await records.update_record(conn, table, rid, body.values, account_id=caller.account_id)


@router.delete("/tables/{table_id}/records/{record_id}", status_code=204, response_class=Response)
async def delete_record(caller: CallerDep, table_id: TableId, record_id: RecordId) -> Response:
    """Delete one row."""
    rid = parse_record_id(record_id)
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        await records.delete_records(conn, table.id, [rid])
    return Response(status_code=204)


@router.post("/tables/{table_id}/records/delete", response_model=RecordsDeleted, responses=errors(404))
async def delete_many(caller: CallerDep, table_id: TableId, body: RecordIds) -> RecordsDeleted:
    """Delete the rows named in `ids` in one change (those already gone are skipped; 404 when none was left)."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        deleted = await records.delete_records(conn, table.id, sorted(set(body.ids)))
        change = await change_sets.current(conn)
    return RecordsDeleted(deleted=deleted, change_id=str(change) if change else None)


@router.patch("/tables/{table_id}/cells", response_model=CellsWritten, tags=["cells"], responses=errors(409))
async def update_cells(caller: CallerDep, table_id: TableId, body: CellBlock) -> CellsWritten:
    """Write a block of cells (a paste, replayed offline edits) as one change, each cell only if it is still
    at the `version` it was based on. Any cell changed meanwhile, gone or invalid makes it a 409 that lists
    every such cell in `error.details.cells` (with the `current` cell for a version conflict), and nothing
    of the block is written."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        edits = [cell_batch.CellEdit(record_id=c.record_id, column=column_of(table, c.column), value=c.value,
                                     version=c.version) for c in body.cells]
        written = await cell_batch.write_block(conn, table, edits, account_id=caller.account_id)
    return CellsWritten(cells=[CellItem(record_id=e.record_id, **w.model_dump()) for e, w in zip(edits, written)])


@router.patch("/tables/{table_id}/records/{record_id}/cells/{column_id}", response_model=CellPublic,
              tags=["cells"], responses=errors(409))
async def update_cell(caller: CallerDep, table_id: TableId, record_id: RecordId, column_id: ColumnKey,
                      body: CellUpdate) -> CellPublic:
    """Set one cell if its version is still `version`; else 409 with the current cell in
    `error.details.current`."""
    rid = parse_record_id(record_id)
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        col = column_of(table, column_id)
        return await records.update_cell(conn, table, rid, str(col.id), value=body.value,
                                         version=body.version, account_id=caller.account_id)


@router.get("/tables/{table_id}/columns/{column_id}/cells", response_model=CellList, tags=["cells"])
async def list_cells(
    caller: CallerDep,
    table_id: TableId,
    column_id: ColumnKey,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CellList:
    """One column's cells, row by row in insertion order."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        col = column_of(table, column_id)
        found = await records.list_cells(conn, table.id, str(col.id), limit=limit, offset=offset)
    return CellList(items=[CellItem(**c) for c in found], limit=limit, offset=offset)


@router.get("/tables/{table_id}/updates", response_model=ChangePage, tags=["changes"])
async def updates(
    caller: CallerDep,
    table_id: TableId,
    cursor: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0,
    limit: Annotated[int, Query(ge=1, le=changes.MAX_CHANGES)] = 500,
) -> Response:
    """Every change after `cursor` in order (deletions included) and the cursor to send next time;
    `more` says another call would return more."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        page = await changes.read_changes(conn, table, cursor=cursor, limit=limit)
    return _serialized(page)
