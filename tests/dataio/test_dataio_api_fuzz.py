"""Property-based run of the import/export operations from their OpenAPI description: no generated
request may produce a 500 or an answer outside the documented shapes."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, status_code_conformance
from starlette.applications import Starlette
from starlette.routing import Mount

PREFIX = "/api/v1"
BASE = f"http://testserver{PREFIX}"
PATHS = {"/tables/import", "/tables/{table_id}/import", "/tables/{table_id}/export"}


@pytest.fixture
async def mounted(api):
    app = Starlette(routes=[Mount(PREFIX, app=api)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        spec = (await c.get(f"{PREFIX}/openapi.json")).json()
        yield asyncio.get_running_loop(), c, schemathesis.openapi.from_dict(spec)


@pytest.mark.timeout(240)
def test_import_export_operations_never_fail_with_a_server_error(mounted, owner):
    loop, client, schema = mounted
    table = loop.run_until_complete(client.post(
        f"{PREFIX}/tables/import", files={"file": ("t.csv", b"Name,Points\nAda,1\nBob,2\n")}, headers=owner.headers))
    table_id = table.json()["id"]
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if op.path in PATHS]
    assert len(operations) == 3
    failures = []
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, 25), (GenerationMode.NEGATIVE, 15)):

            @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.generate], print_blob=False)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                if case.path_parameters and "table_id" in case.path_parameters:
                    case.path_parameters["table_id"] = table_id
                kw = case.as_transport_kwargs(base_url=BASE, headers=owner.headers)
                body = {k: kw[k] for k in ("json", "files", "data") if kw.get(k) is not None}
                if isinstance(body.get("data"), (str, bytes)):
                    body["content"] = body.pop("data")
                if "files" in body:  # schemathesis may put numbers where httpx wants text
                    body["files"] = [(name, (fn, v if isinstance(v, (str, bytes)) else json.dumps(v)))
                                     for name, (fn, v) in body["files"]]
                try:
                    request = client.build_request(kw["method"], kw["url"], headers=dict(kw["headers"]),
                                                   params=kw.get("params"), **body)
                    request.read()  # the checks look at the request body: a multipart one must be read first
                    response = loop.run_until_complete(client.send(request))
                except (httpx.InvalidURL, TypeError, ValueError):
                    reject()  # a body httpx itself cannot send
                case.validate_response(response, checks=[not_a_server_error, status_code_conformance],
                                       transport_kwargs=kw)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 -- report every failing operation
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
