"""Adding rows under an idempotency key: a client that sends the same add again (its answer was lost, the
page reloaded while it waited) gets the rows the first one made instead of new ones.

The key names the change set of the add: its id is derived from the table, the account and the key, so a
key means nothing outside them and cannot collide with another change set. A transaction lock on that id
makes a second request with the key wait for the first to commit, then find its rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db import change_sets, records
from db.errors import Conflict, NotFound
from db.schemas import RecordPublic, TablePublic

MAX_KEY_CHARS = 200
_NAMESPACE = uuid.UUID("5b0d6c1e-3f0a-4c55-9a36-0c7d2f1e8a41")

_ADDED = """
SELECT c.record_id FROM change_sets s
JOIN changes c ON c.table_id = s.table_id AND c.seq > s.base_seq AND c.change_set = s.id
WHERE s.id = :id AND c.kind = 'record' AND c.op = 'insert'
ORDER BY c.seq
"""


@dataclass(frozen=True)
class KeyedAdd:
    ids: list[int]
    jobs: list[str]
    replayed: bool  # True: an earlier request with the key made these rows, nothing was added now


def change_set_of(table_id: uuid.UUID | str, account_id: uuid.UUID | str, key: str) -> uuid.UUID:
    """The id of the change set an add under `key` by this account to this table gets."""
    return uuid.uuid5(_NAMESPACE, f"{table_id}/{account_id}/{key}")


async def add_records_once(conn: AsyncConnection, table: TablePublic, rows: Sequence[Mapping[str, Any]], *,
                           account_id: uuid.UUID | str, key: str | None) -> KeyedAdd:
    """`records.add_records` unless a request with this key added rows to this table already: then the ids
    of the rows it made (some may have been deleted since), and nothing is written. No key: a plain add."""
    if key is None:
        added = await records.add_records(conn, table, rows)
        return KeyedAdd(list(added.ids), list(added.jobs), False)
    change_set_id = change_set_of(table.id, account_id, key)
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": str(change_set_id)})
    made = (await conn.execute(text("SELECT 1 FROM change_sets WHERE id = :id"), {"id": change_set_id})).first()
    if made is not None:
        ids = (await conn.execute(text(_ADDED), {"id": change_set_id})).scalars().all()
        return KeyedAdd([int(i) for i in ids], [], True)
    n = len(rows)
    await change_sets.ensure(conn, workspace_id=table.workspace_id, table_id=table.id, change_set_id=change_set_id,
                             summary=f"Added {n} row{'s' if n != 1 else ''}", counts={"rows_added": n})
    added = await records.add_records(conn, table, rows)
    return KeyedAdd(list(added.ids), list(added.jobs), False)


async def the_row_made(conn: AsyncConnection, table: TablePublic, added: KeyedAdd) -> RecordPublic:
    """The one row an add made; a row added under a key and deleted since is a conflict (not added again)."""
    try:
        return await records.get_record(conn, table, added.ids[0])
    except (IndexError, NotFound):
        gone = added.ids[0] if added.ids else None
        raise Conflict(f"Row {gone} was added under this Idempotency-Key and has been deleted since; it is not "
                       "added again.", record_id=gone) from None
