"""Sharing the chat's workspace with someone as editor, viewer or owner. It acts at once (the user asked in
so many words) and only for an owner of the workspace; the database refuses anyone else as well. (Renaming
the workspace is a proposal: `propose_table_change`.)"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from db import accounts, workspaces
from db.engine import transaction
from tools.base import ToolContext, ToolError, ToolResult, tool


class ShareWorkspaceInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(min_length=1, max_length=64, description="The user name of the person to share with")
    role: Literal["editor", "viewer", "owner"] = Field(
        description="viewer: reads only; editor: changes data and schema; owner: also members and the name")


async def _here(ctx: ToolContext) -> Any:
    workspace = await ctx.workspace()
    if workspace is None:
        raise ToolError("This conversation has no workspace yet.")
    return workspace


@tool(ShareWorkspaceInput)
async def share_workspace(ctx: ToolContext, args: ShareWorkspaceInput) -> ToolResult:
    """Share this chat's workspace (all its tables) with another user as viewer, editor or owner, or change
    their role; only an owner of the workspace may. Call it when the user asks in so many words (“share this
    workspace with sam as a viewer”); it acts at once, there is no preview. Then tell the user it is done."""
    workspace = await _here(ctx)
    async with transaction(None, engine=ctx.engine) as conn:  # names of other people: outside any workspace
        who = await accounts.account_by_name(conn, args.user.strip())
    if who is None:
        raise ToolError(f"There is no user “{args.user.strip()}”; nothing was shared. Ask for the exact user name.")
    async with ctx.transaction() as conn:
        added = await workspaces.share(conn, workspace, account_id=who["id"], by=ctx.account_id, role=args.role)
        name = await workspaces.workspace_name(conn, workspace)
    verb = "shared with" if added else "changed the role of"
    return ToolResult({"done": f"Workspace “{name}” {verb} {who['name']}: {args.role}.",
                       "workspace": name, "user": who["name"], "role": args.role})
