"""The three calls the data-layer metrics time, through the REST API in-process (httpx over ASGI,
`api.app.create_api` on the bench's engine), authenticated as the bench's login. The app serves the
paths that production mounts under /api/v1 at its own root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from bench.context import Bench


class ApiAccess:
    """`GET …/records` (sorted, filtered or not), `PATCH …/cells/{cid}`, `GET …/updates` with the bench login's bearer token."""

    def __init__(self, client: Any):
        self.client = client

    async def _ok(self, response: Any) -> dict[str, Any]:
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.method} {response.request.url.path} answered "
                               f"{response.status_code}: {response.text[:300]}")
        return response.json()

    async def first_page(self, table_id: Any, **params: Any) -> dict[str, Any]:
        """The first 100 rows; `params` adds `sort`, `filter` or `q`."""
        return await self._ok(await self.client.get(f"/tables/{table_id}/records",
                                                    params={"limit": 100, **params}))

    async def edit_cell(self, table_id: Any, record_id: int, column_id: Any, value: Any,
                        version: int) -> dict[str, Any]:
        return await self._ok(await self.client.patch(
            f"/tables/{table_id}/records/{record_id}/cells/{column_id}",
            json={"value": value, "version": version}))

    async def updates(self, table_id: Any, cursor: int) -> dict[str, Any]:
        return await self._ok(await self.client.get(f"/tables/{table_id}/updates",
                                                    params={"cursor": cursor}))


@asynccontextmanager
async def open_access(bench: Bench) -> AsyncIterator[ApiAccess]:
    """A client of the API app, started (lifespan included) for the length of the block."""
    import httpx

    from api.app import create_api

    app = create_api(engine=bench.engine)
    async with AsyncExitStack() as stack:
        lifespan = getattr(getattr(app, "router", None), "lifespan_context", None)
        if lifespan is not None:
            await stack.enter_async_context(lifespan(app))
        client = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench",
            headers={"Authorization": f"Bearer {bench.token}"}))
        yield ApiAccess(client)
