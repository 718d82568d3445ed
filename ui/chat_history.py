"""Chat history in our PostgreSQL (Chainlit's SQLAlchemy data layer with the fixes it needs) and the
workspace each chat thread works in."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.data.utils import queue_until_user_message
from chainlit.element import ElementDict
from chainlit.types import PageInfo, PaginatedResponse, Pagination, ThreadDict, ThreadFilter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import get_settings
from db import accounts, workspaces
from db.engine import make_engine, transaction

if TYPE_CHECKING:
    from chainlit.element import Element
    from chainlit.step import StepDict

log = logging.getLogger(__name__)

# Chainlit's statements are few and repeat for every step: their parsed form is kept.
_sql = functools.lru_cache(maxsize=256)(text)
# The thread row a step or element needs (foreign key), made in the same statement as the write.
_ENSURE_THREAD = ('WITH thread AS (INSERT INTO threads (id, "createdAt", metadata) VALUES (:threadId, :thread_at, '
                  "'{}') ON CONFLICT (id) DO NOTHING) ")

WORKSPACE_KEYS = ("workspace_id", "workspace_name")  # in the thread's metadata and the user session


class NoFiles(BaseStorageClient):
    """Keeps no file contents: custom elements live on as props, others only by an outside URL."""

    async def upload_file(self, object_key: str, data: bytes | str, mime: str = "", overwrite: bool = True,
                          content_disposition: str | None = None) -> dict[str, Any]:
        return {"object_key": None, "url": None}

    async def delete_file(self, object_key: str) -> bool:
        return True

    async def get_read_url(self, object_key: str) -> str:
        return ""

    async def close(self) -> None:
        return None


class ChatHistory(SQLAlchemyDataLayer):
    """Chainlit's SQLAlchemy data layer over tablechat's database (tables from migration 0003)."""

    def __init__(self, url: str, **kwargs: Any):
        super().__init__(conninfo=url, storage_provider=NoFiles(), **kwargs)
        # Chainlit's engine has a pool of 5 (+10 that close on return) and tries TLS on each connection:
        # a crowd of chats would open connections for every step. Every statement here stands alone,
        # so it commits by itself: one round trip instead of BEGIN, statement, COMMIT.
        self.engine = make_engine(url, pool_size=get_settings().history_pool_size, max_overflow=0,
                                  isolation_level="AUTOCOMMIT")
        self.async_session = async_sessionmaker(bind=self.engine, expire_on_commit=False, class_=AsyncSession)

    async def execute_sql(self, query: str, parameters: dict) -> list[dict[str, Any]] | int | None:
        """One statement, committed by itself: its rows, its row count, or None when it failed."""
        # asyncpg takes JSONB as text through SQLAlchemy; Chainlit passes a few dicts (modes, playerConfig).
        params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in parameters.items()}
        # Chainlit runs each statement through an ORM session; a plain connection does the same work
        # with a fraction of the CPU, which is what a crowd of chats is short of.
        try:
            async with self.engine.connect() as conn:
                result = await conn.execute(_sql(query), params)
                if not result.returns_rows:
                    return result.rowcount
                return self.clean_result([dict(row._mapping) for row in result.fetchall()])
        except Exception as exc:  # noqa: BLE001  (Chainlit's contract: a failed statement is logged, not raised)
            log.warning("chat history statement failed: %s", exc)
            return None

    async def update_thread(self, thread_id: str, name: str | None = None, user_id: str | None = None,
                            metadata: dict | None = None, tags: list[str] | None = None) -> None:
        """Create or update a thread in one statement, merging metadata inside PostgreSQL."""
        # Chainlit's version reads the metadata, merges in Python and writes it all back, so two
        # concurrent calls (first message + our workspace note) lose one side's keys.
        metadata = metadata or {}
        keep = {k: v for k, v in metadata.items() if v is not None}
        drop = [k for k, v in metadata.items() if v is None]
        if name is None:
            name = keep.get("name")
        if not (keep or drop or name or user_id or tags):
            await self.execute_sql(
                'INSERT INTO threads (id, "createdAt", metadata) VALUES (:id, :at, \'{}\') '
                "ON CONFLICT (id) DO NOTHING",
                {"id": thread_id, "at": await self.get_current_timestamp()},
            )
            return
        # the user's identifier is looked up inside the statement, not in a round trip of its own
        await self.execute_sql(
            """
            INSERT INTO threads (id, "createdAt", name, "userId", "userIdentifier", tags, metadata)
            VALUES (:id, :at, :name, :user_id, (SELECT identifier FROM users WHERE id = :user_id), :tags, :keep)
            ON CONFLICT (id) DO UPDATE SET
              name = COALESCE(EXCLUDED.name, threads.name),
              "userId" = COALESCE(EXCLUDED."userId", threads."userId"),
              "userIdentifier" = COALESCE(EXCLUDED."userIdentifier", threads."userIdentifier"),
              tags = COALESCE(EXCLUDED.tags, threads.tags),
              metadata = (COALESCE(threads.metadata, '{}') - CAST(:drop AS text[])) || EXCLUDED.metadata
            """,
            {"id": thread_id, "at": await self.get_current_timestamp(), "name": name, "user_id": user_id,
             "tags": tags, "keep": json.dumps(keep), "drop": drop},
        )

    @queue_until_user_message()
    async def create_step(self, step_dict: StepDict) -> None:
        """Save a step (insert or update), making its thread's row in the same statement if need be."""
        # Chainlit's version spends a statement and a transaction of its own on the thread row first.
        step_dict["showInput"] = (str(step_dict.get("showInput", "")).lower()  # type: ignore[typeddict-item]
                                  if "showInput" in step_dict else None)
        row = {k: v for k, v in step_dict.items() if v is not None and not (isinstance(v, dict) and not v)}
        row["metadata"] = json.dumps(step_dict.get("metadata", {}))
        row["generation"] = json.dumps(step_dict.get("generation", {}))
        columns = ", ".join(f'"{k}"' for k in row)
        values = ", ".join(f":{k}" for k in row)
        updates = ", ".join(f'"{k}" = EXCLUDED."{k}"' for k in row if k != "id")
        ensure = _ENSURE_THREAD if row.get("threadId") else ""
        await self.execute_sql(
            f"{ensure}INSERT INTO steps ({columns}) VALUES ({values}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            {**row, "thread_at": await self.get_current_timestamp()},
        )

    async def list_threads(self, pagination: Pagination, filters: ThreadFilter) -> PaginatedResponse:
        """One page of the user's threads, latest activity first, without their steps and elements."""
        # Chainlit's version loads every step and element of up to 1,000 threads to show 20 names.
        if not filters.userId:
            raise ValueError("userId is required")
        where, params = ['t."userId" = :user_id'], {"user_id": filters.userId, "limit": pagination.first + 1}
        if filters.search:
            params["search"] = "%" + re.sub(r"([\\%_])", r"\\\1", filters.search) + "%"
            where.append('(t.name ILIKE :search OR EXISTS (SELECT 1 FROM steps s WHERE s."threadId" = t.id '
                         "AND s.output ILIKE :search))")
        if filters.feedback is not None:
            params["feedback"] = int(filters.feedback)
            where.append('EXISTS (SELECT 1 FROM feedbacks f JOIN steps s ON s.id = f."forId" '
                         'WHERE s."threadId" = t.id AND f.value = :feedback)')
        after = ""
        if pagination.cursor:
            params["cursor"] = pagination.cursor
            after = 'WHERE ("updatedAt", id) < (SELECT "updatedAt", id FROM page WHERE id = :cursor)'
        rows = await self.execute_sql(
            f"""
            WITH page AS (
              SELECT t.id, t.name, t."userId", t."userIdentifier", t.tags, t.metadata,
                     COALESCE((SELECT max(s."createdAt") FROM steps s WHERE s."threadId" = t.id),
                              t."createdAt", '') AS "updatedAt"
              FROM threads t WHERE {" AND ".join(where)}
            )
            SELECT * FROM page {after} ORDER BY "updatedAt" DESC, id DESC LIMIT :limit
            """,
            params,
        )
        rows = rows if isinstance(rows, list) else []
        threads = [
            ThreadDict(id=r["id"], createdAt=r["updatedAt"], name=r["name"], userId=r["userId"],
                       userIdentifier=r["userIdentifier"], tags=r["tags"], metadata=r["metadata"] or {},
                       steps=[], elements=[])
            for r in rows[: pagination.first]
        ]
        return PaginatedResponse(
            pageInfo=PageInfo(hasNextPage=len(rows) > pagination.first,
                              startCursor=threads[0]["id"] if threads else None,
                              endCursor=threads[-1]["id"] if threads else None),
            data=threads,
        )

    @queue_until_user_message()
    async def create_element(self, element: Element) -> None:
        """Save an element row; custom elements keep their props, file contents are not stored."""
        if not element.for_id:
            return
        if element.type != "custom" and not element.url:
            log.debug("element %s (%s) has no outside URL; not kept in history", element.id, element.type)
            return
        row = {k: v for k, v in element.to_dict().items() if v is not None}
        columns = ", ".join(f'"{k}"' for k in row)
        values = ", ".join(f":{k}" for k in row)
        updates = ", ".join(f'"{k}" = EXCLUDED."{k}"' for k in row if k != "id")
        # The first element of a new thread can arrive before the thread row (foreign key).
        ensure = _ENSURE_THREAD if row.get("threadId") else ""
        await self.execute_sql(
            f"{ensure}INSERT INTO elements ({columns}) VALUES ({values}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            {**row, "thread_at": await self.get_current_timestamp()},
        )

    async def get_element(self, thread_id: str, element_id: str) -> ElementDict | None:
        """One element; props come back from JSONB already decoded (Chainlit expects a string)."""
        rows = await self.execute_sql(
            'SELECT * FROM elements WHERE "threadId" = :thread_id AND id = :element_id',
            {"thread_id": thread_id, "element_id": element_id},
        )
        if not isinstance(rows, list) or not rows:
            return None
        row = rows[0]
        props = row.get("props")
        return ElementDict(
            id=row["id"], threadId=row.get("threadId"), type=row["type"], chainlitKey=row.get("chainlitKey"),
            url=row.get("url"), objectKey=row.get("objectKey"), name=row["name"], display=row["display"],
            props=json.loads(props) if isinstance(props, str) else (props or {}), size=row.get("size"),
            language=row.get("language"), page=row.get("page"), autoPlay=row.get("autoPlay"),
            playerConfig=row.get("playerConfig"), forId=row.get("forId"), mime=row.get("mime"),
        )


async def workspace_for_chat(
    conn: AsyncConnection, account_id: uuid.UUID | str, *, prefer: uuid.UUID | str | None = None
) -> dict[str, Any]:
    """The workspace a chat works in: `prefer` while the account belongs to it (a resumed chat, a switch),
    else the account's most recently used workspace, else a new one. It becomes the account's most recent
    (system transaction). Returns id, name, role and tables (its table count)."""
    account = _as_uuid(account_id)
    mine = await workspaces.list_mine(conn, account) if account else []
    prefer_id = _as_uuid(prefer)
    found = next((w for w in mine if w["id"] == prefer_id), None) if prefer_id else None
    if found is None:
        found = mine[0] if mine else await accounts.create_workspace(conn, owner_id=account_id)
    await workspaces.touch(conn, account_id, found["id"])
    return {k: found[k] for k in ("id", "name", "role", "tables")}


def _as_uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def open_workspace(
    account_id: uuid.UUID | str, *, prefer: uuid.UUID | str | None = None, attempts: int = 4,
    first_delay: float = 0.5, engine: AsyncEngine | None = None,
) -> dict[str, Any]:
    """`workspace_for_chat` in its own system transaction, retried with exponential backoff."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            async with transaction(None, engine=engine) as conn:
                return await workspace_for_chat(conn, account_id, prefer=prefer)
        except Exception as exc:  # the database may be restarting: any failure is worth another try
            if attempt == attempts:
                raise
            log.warning("workspace for account %s, attempt %d of %d failed (%s); retrying in %.1f s",
                        account_id, attempt, attempts, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
    raise AssertionError("unreachable")
