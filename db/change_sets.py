"""Change sets: one per user-visible write (an applied proposal, a cell edit or pasted block, a fill job,
an import, a revert). A writer names the change set of its transaction here; the feed triggers copy it
into every `changes` row (migration 0012), with what each write replaced. The caller owns the transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

Kind = Literal["proposal", "edit", "fill", "import", "revert"]
SETTING = "tablechat.change_set"

# a new change set named for the rest of the transaction, unless one is named already (`ensure`); the
# two CTEs can lead another statement (`ensure_cte`), saving a round trip on a cell edit
_CTES = f"""cs_cur AS (SELECT nullif(current_setting('{SETTING}', true), '') AS v),
cs_ins AS (
  INSERT INTO change_sets (id, workspace_id, table_id, kind, actor, summary, counts, proposal_id, reverts, base_seq)
  SELECT coalesce(CAST(:cs_id AS uuid), gen_random_uuid()),
         coalesce(CAST(:cs_w AS uuid), (SELECT workspace_id FROM data_tables WHERE id = :cs_t)), :cs_t, :cs_k,
         CAST(:cs_actor AS jsonb) || jsonb_strip_nulls(jsonb_build_object(
           'account_id', nullif(current_setting('app.account_id', true), ''))),
         :cs_s, CAST(:cs_counts AS jsonb), :cs_p, :cs_rv,
         coalesce((SELECT max(seq) FROM changes WHERE table_id = :cs_t), 0)
  WHERE :cs_force OR (SELECT v FROM cs_cur) IS NULL
  RETURNING id
)"""
_NAMED = f"coalesce((SELECT set_config('{SETTING}', id::text, true) FROM cs_ins), (SELECT v FROM cs_cur))"
_OPEN = f"WITH {_CTES}\nSELECT {_NAMED}"


def ensure_cte(
    *, workspace_id: uuid.UUID | str | None, table_id: uuid.UUID | str | None, kind: Kind = "edit",
    actor: Mapping[str, Any] | None = None, summary: str = "", counts: Mapping[str, int] | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """`ensure` as CTEs to put before a SELECT of one row: (the CTEs, an expression for its select list
    that names the change set, their parameters). The change set is named when that row is selected."""
    return _CTES, _NAMED, _params(False, workspace_id, table_id, kind, actor or {"kind": "user"}, summary, None,
                                  None, None, counts)


def _params(force: bool, workspace_id: Any, table_id: Any, kind: str, actor: Mapping[str, Any] | None,
            summary: str, proposal_id: Any, reverts: Any, change_set_id: Any,
            counts: Mapping[str, int] | None) -> dict[str, Any]:
    return {"cs_id": str(change_set_id) if change_set_id else None, "cs_w": workspace_id, "cs_t": table_id,
            "cs_k": kind, "cs_actor": json.dumps(dict(actor or {}), default=str), "cs_s": summary[:500],
            "cs_p": proposal_id, "cs_rv": reverts, "cs_force": force, "cs_counts": json.dumps(dict(counts or {}))}


# what a change set did, counted from its feed rows
_COUNTS = """
SELECT count(*) FILTER (WHERE kind = 'record' AND op = 'insert') AS rows_added,
       count(*) FILTER (WHERE kind = 'record' AND op = 'delete') AS rows_deleted,
       count(DISTINCT record_id) FILTER (WHERE kind = 'cell' AND prev IS NOT NULL) AS rows_updated,
       count(*) FILTER (WHERE kind = 'cell' AND prev IS NOT NULL) AS cells,
       count(*) FILTER (WHERE kind = 'column' AND op = 'insert') AS columns_added,
       count(*) FILTER (WHERE kind = 'column' AND op = 'delete') AS columns_removed,
       count(*) FILTER (WHERE kind = 'column' AND op = 'update') AS columns_changed
FROM changes WHERE table_id = :t AND seq > :b AND change_set = :id
"""


async def begin(
    conn: AsyncConnection,
    *,
    workspace_id: uuid.UUID | str,
    table_id: uuid.UUID | str | None,
    kind: Kind,
    actor: Mapping[str, Any] | None = None,
    summary: str = "",
    proposal_id: uuid.UUID | str | None = None,
    reverts: uuid.UUID | str | None = None,
    change_set_id: uuid.UUID | str | None = None,
) -> uuid.UUID:
    """A new change set; every write of the rest of this transaction belongs to it."""
    return await _open(conn, True, workspace_id, table_id, kind, actor, summary, proposal_id, reverts,
                       change_set_id)


async def ensure(
    conn: AsyncConnection, *, workspace_id: uuid.UUID | str | None, table_id: uuid.UUID | str | None,
    kind: Kind = "edit", actor: Mapping[str, Any] | None = None, summary: str = "",
    counts: Mapping[str, int] | None = None, change_set_id: uuid.UUID | str | None = None,
) -> uuid.UUID:
    """The transaction's change set: the one named already (a proposal's apply, an import), else a new one
    (under `change_set_id` when given) with these `counts` (the one who named it counts its writes with
    `finish`)."""
    return await _open(conn, False, workspace_id, table_id, kind, actor or {"kind": "user"}, summary, None,
                       None, change_set_id, counts)


async def _open(conn: AsyncConnection, force: bool, workspace_id: Any, table_id: Any, kind: str,
                actor: Mapping[str, Any] | None, summary: str, proposal_id: Any, reverts: Any,
                change_set_id: Any, counts: Mapping[str, int] | None = None) -> uuid.UUID:
    got = await conn.execute(text(_OPEN), _params(force, workspace_id, table_id, kind, actor, summary, proposal_id,
                                                  reverts, change_set_id, counts))
    return uuid.UUID(str(got.scalar_one()))


async def current(conn: AsyncConnection) -> uuid.UUID | None:
    got = (await conn.execute(text(f"SELECT nullif(current_setting('{SETTING}', true), '')"))).scalar_one()
    return uuid.UUID(got) if got else None


async def close(conn: AsyncConnection) -> None:
    """Writes after this belong to no change set of this transaction (the next `ensure` opens one)."""
    await conn.execute(text(f"SELECT set_config('{SETTING}', '', true)"))


WORDS = (("rows_added", "row", "added"), ("rows_updated", "row", "updated"), ("rows_deleted", "row", "deleted"),
         ("columns_added", "column", "added"), ("columns_removed", "column", "removed"),
         ("columns_changed", "column", "changed"))


def describe(counts: Mapping[str, int]) -> str:
    """What a change set did in a few words: "2 rows added, 1 row updated (3 cells), 1 column removed"."""
    parts = []
    for key, noun, verb in WORDS:
        n = counts.get(key, 0)
        if n:
            part = f"{n:,} {noun}{'s' if n != 1 else ''} {verb}"
            if key == "rows_updated" and counts.get("cells", 0) > n:
                part += f" ({counts['cells']:,} cells)"
            parts.append(part)
    return ", ".join(parts) or "no change"


async def finish(
    conn: AsyncConnection, change_set_id: uuid.UUID, *, table_id: uuid.UUID | None = None,
    summary: str | Callable[[dict[str, int]], str] | None = None, extra: Mapping[str, Any] | None = None,
    drop_if_empty: bool = False,
) -> dict[str, int] | None:
    """Count what the change set did (and set its table and summary); with `drop_if_empty`, a change set
    that wrote nothing is removed. Returns the counts, or None when it was removed."""
    row = (await conn.execute(
        text("SELECT table_id, base_seq FROM change_sets WHERE id = :id"), {"id": change_set_id}
    )).one()
    tid = table_id or row.table_id
    counts: dict[str, int] = {}
    if tid is not None:
        got = (await conn.execute(text(_COUNTS), {"t": tid, "b": row.base_seq, "id": change_set_id})).mappings().one()
        counts = {k: int(v) for k, v in got.items() if v}
    if drop_if_empty and not counts:
        await conn.execute(text("DELETE FROM change_sets WHERE id = :id"), {"id": change_set_id})
        return None
    if callable(summary):
        summary = summary(counts)
    await conn.execute(
        text("UPDATE change_sets SET table_id = :t, counts = counts || CAST(:c AS jsonb), "
             "summary = coalesce(:s, summary) WHERE id = :id"),
        {"t": tid, "c": json.dumps({**counts, **(extra or {})}), "s": summary, "id": change_set_id},
    )
    return counts
