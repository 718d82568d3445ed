"""`/usage`: what the AI columns cost, per table and column of this chat's workspace, today and in all."""

from __future__ import annotations

import uuid

import chainlit as cl

from core.markdown import md_text
from db import history_read
from db.engine import transaction
from ui.common import account_id, author
from ui.workspace import workspace


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


def usage_text(found: dict, workspace_name: str) -> str:
    if not found["tables"]:
        return f"No AI column of **{md_text(workspace_name)}** has called a model yet: nothing spent."
    lines = [(f"AI spend of **{md_text(workspace_name)}**: {_money(found['today_usd'])} today (UTC), "
              f"{_money(found['total_usd'])} in all.")]
    for t in found["tables"][:30]:
        name = md_text(t["name"]) if t["name"] else "(a deleted table)"
        lines.append(f"- **{name}**: {_money(t['today_usd'])} today, {_money(t['total_usd'])} in all")
        for c in t["columns"][:20]:
            col = md_text(c["name"]) if c["name"] else "(a removed column)"
            lines.append(f"  - {col}: {_money(c['today_usd'])} today, {_money(c['total_usd'])} in all, "
                         f"{c['calls']:,} call{'s' if c['calls'] != 1 else ''}")
    return "\n".join(lines)


async def show_usage() -> None:
    found_ws = await workspace(wait=5.0)
    if found_ws is None:
        await cl.Message(content="Your workspace is still being prepared; try again in a moment.",
                         author=author()).send()
        return
    async with transaction(account_id()) as conn:
        found = await history_read.usage(conn, workspace_id=uuid.UUID(found_ws["workspace_id"]))
    await cl.Message(content=usage_text(found, found_ws.get("workspace_name") or "this workspace"), author=author()).send()
