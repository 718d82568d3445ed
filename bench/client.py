"""The three calls the data-layer metrics time, through the REST API (in-process, over ASGI) when
`api.app.create_api` exists, else through the service functions the API is a thin layer over."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

from bench.context import Bench


class Access(Protocol):
    via: str

    async def first_page(self, table_id: Any) -> dict[str, Any]: ...

    async def edit_cell(self, table_id: Any, record_id: int, column_id: Any, value: Any,
                        version: int) -> dict[str, Any]: ...

    async def updates(self, table_id: Any, cursor: int) -> dict[str, Any]: ...


class ApiAccess:
    """`GET …/records`, `PATCH …/cells/{cid}`, `GET …/updates` with the bench login's bearer token."""

    via = "api"

    def __init__(self, client: Any, prefix: str):
        self.client = client
        self.prefix = prefix

    async def _ok(self, response: Any) -> dict[str, Any]:
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.method} {response.request.url.path} answered "
                               f"{response.status_code}: {response.text[:300]}")
        return response.json()

    async def first_page(self, table_id: Any) -> dict[str, Any]:
        return await self._ok(await self.client.get(f"{self.prefix}/tables/{table_id}/records",
                                                    params={"limit": 100}))

    async def edit_cell(self, table_id: Any, record_id: int, column_id: Any, value: Any,
                        version: int) -> dict[str, Any]:
        return await self._ok(await self.client.patch(
            f"{self.prefix}/tables/{table_id}/records/{record_id}/cells/{column_id}",
            json={"value": value, "version": version}))

    async def updates(self, table_id: Any, cursor: int) -> dict[str, Any]:
        return await self._ok(await self.client.get(f"{self.prefix}/tables/{table_id}/updates",
                                                    params={"cursor": cursor}))


class ServiceAccess:
    """What the API does for each call minus HTTP: a transaction as the account, the service call,
    the answer serialised."""

    via = "service"

    def __init__(self, bench: Bench):
        self.bench = bench

    async def first_page(self, table_id: Any) -> dict[str, Any]:
        from db import records, tables
        from db.engine import transaction

        async with transaction(self.bench.account_id, engine=self.bench.engine) as conn:
            table = await tables.get_table(conn, table_id)
            page = await records.list_records(conn, table, limit=100)
        return page.model_dump(mode="json")

    async def edit_cell(self, table_id: Any, record_id: int, column_id: Any, value: Any,
                        version: int) -> dict[str, Any]:
        from db import records
        from db.engine import transaction

        async with transaction(self.bench.account_id, engine=self.bench.engine) as conn:
            cell = await records.update_cell(conn, table_id, record_id, column_id, value=value,
                                             version=version, account_id=self.bench.account_id)
        return cell.model_dump(mode="json")

    async def updates(self, table_id: Any, cursor: int) -> dict[str, Any]:
        from db import changes, tables
        from db.engine import transaction

        async with transaction(self.bench.account_id, engine=self.bench.engine) as conn:
            table = await tables.get_table(conn, table_id)
            page = await changes.read_changes(conn, table, cursor=cursor)
        return page.model_dump(mode="json")


def api_available() -> bool:
    return importlib.util.find_spec("api.app") is not None


@asynccontextmanager
async def open_access(bench: Bench) -> AsyncIterator[Access]:
    """The API when it exists (an error if it exists but does not start), else the service layer."""
    if not api_available():
        print("bench: api/app.py not found, timing the service layer instead of the API", file=sys.stderr)
        yield ServiceAccess(bench)
        return
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
        # SPEC §11 serves the API under /api/v1; an app built to be mounted there serves it at its root.
        prefix = ""
        for candidate in ("/api/v1", ""):
            if (await client.get(f"{candidate}/openapi.json")).status_code == 200:
                prefix = candidate
                break
        yield ApiAccess(client, prefix)
