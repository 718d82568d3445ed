"""Property-based run against the OpenAPI document: every operation, authenticated, on real data;
no input may produce a 500 or an answer outside the documented shapes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette

from api.app import PREFIX
from api.mount import api_mount

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BASE = f"http://testserver{PREFIX}"
MODES = ((GenerationMode.POSITIVE, 15), (GenerationMode.NEGATIVE, 10))


@pytest.fixture
async def mounted(api):
    """The API behind its /api/v1 mount, driven on the test loop with the run's pooled engine."""
    app = Starlette(routes=[api_mount(api)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        spec = (await c.get(f"{PREFIX}/openapi.json")).json()
        yield asyncio.get_running_loop(), c, schemathesis.openapi.from_dict(spec)


@pytest.fixture
async def target(client, user, table, cols):
    """Real ids to aim at, so that generated requests reach past the 404s into validation and storage."""
    ids = (await client.post(f"/tables/{table['id']}/records", json={"rows": [
        {"Title": "one", "Points": 1, "Tags": ["ui"]}, {"Title": "two", "Extra": {"a": 1}}]},
        headers=user.headers)).json()["ids"]
    return {"headers": user.headers, "table_id": table["id"], "column_ids": list(cols.values()), "record_ids": ids}


def aim(case, target) -> None:
    """Point path ids at the target's real table, columns and rows (deleting the table itself excepted)."""
    params = case.path_parameters or {}
    method = case.method.upper()
    if "table_id" not in params or (method == "DELETE" and case.path == "/tables/{table_id}"):
        return
    params["table_id"] = target["table_id"]
    pick = len(str(case.body)) + len(str(case.query))  # varies from example to example
    if "column_id" in params and method != "DELETE":
        params["column_id"] = target["column_ids"][pick % len(target["column_ids"])]
    if "record_id" in params and method != "DELETE":
        params["record_id"] = str(target["record_ids"][pick % len(target["record_ids"])])


def send(loop, client: httpx.AsyncClient, kw: dict) -> httpx.Response:
    """Send schemathesis' request (requests-style arguments) through the async client."""
    body = {"json": kw["json"]} if "json" in kw else {"content": kw["data"]} if "data" in kw else {}
    assert not kw.get("cookies")  # the API takes none; httpx wants them on the client, not per request
    request = client.request(kw["method"], kw["url"], headers=dict(kw["headers"]), params=kw.get("params"), **body)
    # a sync test: the session loop is idle here, so the app runs on it with the pooled engine
    return loop.run_until_complete(request)


@pytest.mark.timeout(120)
def test_no_server_errors(mounted, target):
    loop, client, schema = mounted
    failures = []
    # file uploads are fuzzed with multipart bodies in tests/dataio/test_dataio_api_fuzz.py
    operations = [op for op in (result.ok() for result in schema.get_all_operations())
                  if not op.path.endswith(("/import", "/events"))]  # the stream: tests/api/test_api_events.py
    assert len(operations) >= 19 and {"PATCH /tables/{table_id}/records/{record_id}/cells/{column_id}",
                                      "GET /tables/{table_id}/updates"} <= {op.label for op in operations}
    for operation in operations:
        for mode, examples in MODES:

            @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.generate, Phase.shrink], print_blob=False)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                aim(case, target)
                kw = case.as_transport_kwargs(base_url=BASE, headers=target["headers"])
                try:
                    response = send(loop, client, kw)
                except httpx.InvalidURL:
                    reject()  # longer than any client or server would carry (httpx: 64 KB)
                case.validate_response(response, checks=CHECKS, transport_kwargs=kw)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 -- one run reports every failing operation
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
