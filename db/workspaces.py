"""Workspaces shared with roles: who may do what, the most recent one, members, renames.

A role is `owner` (members, name, deletion), `editor` (data and schema) or `viewer` (reads). The checks
here give the clear refusals; PostgreSQL enforces the same rules under row-level security (migration 0011:
`tc_can_write`, `tc_is_owner`, `tc_set_member`, `tc_remove_member`), so a path that forgot a check still
writes nothing. Functions taking the caller's transaction say so; the others need a system one."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.names import three_word_name
from db.errors import Conflict, Forbidden, Invalid, NotFound

ROLES = ("owner", "editor", "viewer")
SHARED_ROLES = ("editor", "viewer", "owner")
WRITERS = ("owner", "editor")
MAX_NAME = 100


def check_role(role: str) -> str:
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise Invalid(f"A role is one of {', '.join(ROLES)}, not {role!r}", role=role)
    return role


def clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise Invalid(f"A workspace name is 1–{MAX_NAME} characters", name=name[:MAX_NAME])
    return name


async def _acting_account(conn: AsyncConnection) -> str | None:
    """The account this transaction acts for, None in a system transaction."""
    return (await conn.execute(text("SELECT nullif(current_setting('app.account_id', true), '')"))).scalar()


async def role_of(conn: AsyncConnection, workspace_id: uuid.UUID) -> str | None:
    """The caller's role in the workspace (their own transaction), None when they are not a member."""
    return (await conn.execute(text("SELECT tc_my_role(:w)"), {"w": workspace_id})).scalar()


async def role_for_table(conn: AsyncConnection, table_id: uuid.UUID) -> str | None:
    """The caller's role in the workspace of a table (their own transaction), None when they cannot see it."""
    return (await conn.execute(text("SELECT tc_my_role(workspace_id) FROM data_tables WHERE id = :t"),
                               {"t": table_id})).scalar()


async def workspace_name(conn: AsyncConnection, workspace_id: uuid.UUID) -> str:
    row = await conn.execute(text("SELECT name FROM workspaces WHERE id = :w"), {"w": workspace_id})
    name = row.scalar_one_or_none()
    if name is None:
        raise NotFound("No such workspace", workspace_id=str(workspace_id))
    return name


async def require_writer(conn: AsyncConnection, workspace_id: uuid.UUID) -> None:
    """Forbidden unless the caller may change data and schema in the workspace (a system transaction may)."""
    if await _acting_account(conn) is None:
        return
    role = await role_of(conn, workspace_id)
    if role in WRITERS:
        return
    if role is None:
        raise NotFound("No such workspace", workspace_id=str(workspace_id))
    name = await workspace_name(conn, workspace_id)
    raise Forbidden(f"You can only view workspace “{name}”: ask its owner to make you an editor to change it",
                    workspace_id=str(workspace_id), role=role)


async def require_owner(conn: AsyncConnection, workspace_id: uuid.UUID) -> None:
    """Forbidden unless the caller owns the workspace."""
    role = await role_of(conn, workspace_id)
    if role == "owner":
        return
    if role is None:
        raise NotFound("No such workspace", workspace_id=str(workspace_id))
    name = await workspace_name(conn, workspace_id)
    raise Forbidden(f"Only an owner of workspace “{name}” can do that (you are its {role})",
                    workspace_id=str(workspace_id), role=role)


async def require_table_writer(conn: AsyncConnection, table_id: Any) -> uuid.UUID:
    """The table's workspace, once the caller is known to be allowed to change it (one round trip)."""
    from db.tables import as_uuid

    tid = as_uuid(table_id, "table")
    row = (await conn.execute(text(
        "SELECT t.workspace_id, tc_my_role(t.workspace_id) AS role, "
        "  nullif(current_setting('app.account_id', true), '') IS NULL AS system "
        "FROM data_tables t WHERE t.id = :t"), {"t": tid})).mappings().first()
    if row is None:
        raise NotFound(f"No table {table_id}", table_id=str(table_id))
    if row["system"] or row["role"] in WRITERS:
        return row["workspace_id"]
    await require_writer(conn, row["workspace_id"])  # words the refusal
    return row["workspace_id"]


async def list_mine(conn: AsyncConnection, account_id: uuid.UUID) -> list[dict[str, Any]]:
    """The account's workspaces, most recently used first: id, name, role, tables (their count)."""
    rows = await conn.execute(
        text(
            "SELECT w.id, w.name, m.role, w.created_at, m.last_used_at, "
            "  (SELECT count(*) FROM data_tables t WHERE t.workspace_id = w.id) AS tables "
            "FROM memberships m JOIN workspaces w ON w.id = m.workspace_id "
            "WHERE m.account_id = :a ORDER BY m.last_used_at DESC, w.created_at DESC"
        ),
        {"a": account_id},
    )
    return [dict(m) for m in rows.mappings()]


async def create(conn: AsyncConnection, *, owner_id: uuid.UUID, name: str | None = None) -> dict[str, Any]:
    """A new workspace owned by `owner_id`, named `name` or a fresh three-word name; it becomes the owner's
    most recent one (system transaction)."""
    wanted = clean_name(name) if name is not None else None
    for _ in range(1 if wanted else 20):
        try:
            async with conn.begin_nested():
                row = await conn.execute(
                    text("INSERT INTO workspaces (name, owner_id) VALUES (:n, :o) RETURNING id, name, created_at"),
                    {"n": wanted or three_word_name(), "o": owner_id},
                )
                ws = dict(row.mappings().one())
                await conn.execute(
                    text("INSERT INTO memberships (workspace_id, account_id, role, last_used_at) "
                         "VALUES (:w, :a, 'owner', clock_timestamp())"),
                    {"w": ws["id"], "a": owner_id},
                )
            return {**ws, "role": "owner", "tables": 0}
        except IntegrityError:
            continue
    if wanted:
        raise Conflict(f"A workspace named “{wanted}” already exists", name=wanted)
    raise Conflict("Could not find a free workspace name; try again")


async def most_recent(conn: AsyncConnection, account_id: uuid.UUID) -> dict[str, Any] | None:
    found = await list_mine(conn, account_id)
    return found[0] if found else None


async def touch(conn: AsyncConnection, account_id: uuid.UUID | str, workspace_id: uuid.UUID | str) -> None:
    """The account works in this workspace now: it becomes their most recent (system transaction)."""
    await conn.execute(
        text("UPDATE memberships SET last_used_at = clock_timestamp() WHERE account_id = :a AND workspace_id = :w"),
        {"a": account_id, "w": workspace_id},
    )


async def rename(conn: AsyncConnection, workspace_id: uuid.UUID, name: str) -> dict[str, Any]:
    """Rename the workspace (the caller's transaction; owners only)."""
    name = clean_name(name)
    await require_owner(conn, workspace_id)
    try:
        async with conn.begin_nested():
            res = await conn.execute(text("UPDATE workspaces SET name = :n WHERE id = :w"),
                                     {"n": name, "w": workspace_id})
    except IntegrityError:
        raise Conflict(f"A workspace named “{name}” already exists", name=name) from None
    if res.rowcount == 0:
        raise Forbidden("Only an owner can rename this workspace", workspace_id=str(workspace_id))
    return {"id": workspace_id, "name": name}


async def members(conn: AsyncConnection, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
    """Everyone in the workspace with their role, owners first (system transaction; check membership first)."""
    rows = await conn.execute(
        text("SELECT a.id, a.name, m.role FROM memberships m JOIN accounts a ON a.id = m.account_id "
             "WHERE m.workspace_id = :w ORDER BY array_position(ARRAY['owner','editor','viewer'], m.role::text), a.name"),
        {"w": workspace_id},
    )
    return [dict(m) for m in rows.mappings()]


async def share(conn: AsyncConnection, workspace_id: uuid.UUID, *, account_id: uuid.UUID, by: uuid.UUID,
                role: str) -> bool:
    """Give `account_id` `role` in the workspace (the caller's transaction; owners only). True when the
    person was not a member before."""
    role = check_role(role)
    if account_id == by:
        raise Invalid("You cannot share a workspace with yourself (nor change your own role)")
    await require_owner(conn, workspace_id)
    row = await conn.execute(text("SELECT tc_set_member(:w, :a, :r)"),
                             {"w": workspace_id, "a": account_id, "r": role})
    return bool(row.scalar())


async def unshare(conn: AsyncConnection, workspace_id: uuid.UUID, *, account_id: uuid.UUID) -> None:
    """Take `account_id` out of the workspace (the caller's transaction; owners only; one owner stays)."""
    await require_owner(conn, workspace_id)
    # the caller sees only their own membership: the function counts the other owners itself
    try:
        async with conn.begin_nested():
            removed = (await conn.execute(text("SELECT tc_remove_member(:w, :a)"),
                                          {"w": workspace_id, "a": account_id})).scalar()
    except IntegrityError:
        raise Conflict("A workspace keeps at least one owner: make someone else an owner first") from None
    if not removed:
        raise NotFound("That person is not a member of this workspace")


async def delete(conn: AsyncConnection, workspace_id: uuid.UUID) -> int:
    """Delete the workspace (the caller's transaction; owners only): each table through
    `db.tables.delete_table`, the one function that removes tables, then the workspace. Its table count."""
    from db import tables as db_tables

    await require_owner(conn, workspace_id)
    found = await db_tables.list_tables(conn, workspace_id=workspace_id)
    for table in found:
        await db_tables.delete_table(conn, table.id)
    res = await conn.execute(text("DELETE FROM workspaces WHERE id = :w"), {"w": workspace_id})
    if res.rowcount == 0:
        raise Forbidden("Only an owner can delete this workspace", workspace_id=str(workspace_id))
    return len(found)
