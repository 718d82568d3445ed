"""Workspaces and their members: list, create, rename, share with a role, take a member out; and the
check every write route of a table or a job passes first (a viewer's write is a 403)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api.auth import CallerDep
from api.common import errors
from api.schemas import (
    MemberIn,
    MemberList,
    MemberPublic,
    WorkspaceCreate,
    WorkspaceList,
    WorkspacePatch,
    WorkspacePublic,
)
from db import accounts, history, workspaces
from db.errors import NotFound

router = APIRouter(tags=["workspaces"])
READS = {"GET", "HEAD", "OPTIONS"}
UserName = Annotated[str, Path(description="The member's user name")]


async def writes_allowed(request: Request, caller: CallerDep) -> None:
    """A route that changes a table, a job or (reverting it) a change set first checks the caller may write
    in its workspace: 404 when they cannot see it, 403 when they only view it. Row-level security refuses
    it as well. A revert's dry run only reads."""
    if request.method in READS:
        return
    table_id = request.path_params.get("table_id")
    job_id = request.path_params.get("job_id")
    change_id = request.path_params.get("change_id")
    if change_id is not None and request.query_params.get("dry_run") in {"1", "true", "True"}:
        return
    if table_id is None and job_id is None and change_id is None:
        return
    async with caller.tx() as conn:
        if table_id is not None:
            await workspaces.require_table_writer(conn, table_id)
        elif change_id is not None:
            change = await history.get_change_set(conn, change_id)
            await workspaces.require_writer(conn, change.workspace_id)
        else:
            import jobs

            job = await jobs.get_job(conn, job_id)
            await workspaces.require_table_writer(conn, job.table_id)


async def _mine(caller: CallerDep, workspace_id: uuid.UUID) -> dict:
    async with caller.tx() as conn:
        found = next((w for w in await workspaces.list_mine(conn, caller.account_id) if w["id"] == workspace_id), None)
    if found is None:
        raise NotFound("No such workspace", workspace_id=str(workspace_id))
    return found


@router.get("/workspaces", response_model=WorkspaceList)
async def list_workspaces(caller: CallerDep) -> WorkspaceList:
    """The workspaces the caller belongs to, most recently used first, with their role and table count."""
    async with caller.tx() as conn:
        found = await workspaces.list_mine(conn, caller.account_id)
    return WorkspaceList(items=[WorkspacePublic(**w) for w in found])


@router.post("/workspaces", status_code=201, response_model=WorkspacePublic, responses=errors(409))
async def create_workspace(caller: CallerDep, body: WorkspaceCreate | None = None) -> WorkspacePublic:
    """A new workspace owned by the caller (named `name`, else a fresh three-word name); it becomes their
    most recent one."""
    async with caller.system_tx() as conn:
        created = await workspaces.create(conn, owner_id=caller.account_id, name=body.name if body else None)
    return WorkspacePublic(**created)


@router.patch("/workspaces/{workspace_id}", response_model=WorkspacePublic, responses=errors(403, 409))
async def rename_workspace(caller: CallerDep, workspace_id: uuid.UUID, body: WorkspacePatch) -> WorkspacePublic:
    """Rename the workspace (owners only)."""
    async with caller.tx() as conn:
        await workspaces.rename(conn, workspace_id, body.name)
    return WorkspacePublic(**await _mine(caller, workspace_id))


@router.delete("/workspaces/{workspace_id}", status_code=204, response_class=Response, responses=errors(403))
async def delete_workspace(caller: CallerDep, workspace_id: uuid.UUID) -> Response:
    """Delete the workspace with all its tables (owners only)."""
    await _mine(caller, workspace_id)
    async with caller.tx() as conn:
        await workspaces.delete(conn, workspace_id)
    return Response(status_code=204)


@router.get("/workspaces/{workspace_id}/members", response_model=MemberList)
async def list_members(caller: CallerDep, workspace_id: uuid.UUID) -> MemberList:
    """Everyone in the workspace with their role (any member may look)."""
    await _mine(caller, workspace_id)
    async with caller.system_tx() as conn:
        found = await workspaces.members(conn, workspace_id)
    return MemberList(items=[MemberPublic(user=m["name"], role=m["role"]) for m in found])


async def _account(caller: CallerDep, name: str) -> dict:
    async with caller.system_tx() as conn:
        found = await accounts.account_by_name(conn, name.strip())
    if found is None:
        raise NotFound(f"There is no user “{name.strip()[:64]}”", user=name.strip()[:64])
    return found


@router.post("/workspaces/{workspace_id}/members", status_code=201, response_model=MemberPublic,
             responses=errors(403, 422))
async def share_workspace(caller: CallerDep, workspace_id: uuid.UUID, body: MemberIn, response: Response) -> MemberPublic:
    """Share the workspace with `user` as `role`, or change their role (owners only): 201 for a new member,
    200 for a changed role."""
    await _mine(caller, workspace_id)
    target = await _account(caller, body.user)
    async with caller.tx() as conn:
        added = await workspaces.share(conn, workspace_id, account_id=target["id"], by=caller.account_id,
                                       role=body.role)
    if not added:
        response.status_code = 200
    return MemberPublic(user=target["name"], role=body.role)


@router.delete("/workspaces/{workspace_id}/members/{user}", status_code=204, response_class=Response,
               responses=errors(403, 409))
async def remove_member(caller: CallerDep, workspace_id: uuid.UUID, user: UserName) -> Response:
    """Take `user` out of the workspace (owners only; the last owner stays)."""
    await _mine(caller, workspace_id)
    target = await _account(caller, user)
    async with caller.tx() as conn:
        await workspaces.unshare(conn, workspace_id, account_id=target["id"])
    return Response(status_code=204)
