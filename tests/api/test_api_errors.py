"""Every failure is a JSON envelope with the right status; nothing internal leaks."""

import logging

from httpx import ASGITransport, AsyncClient

from api.app import MAX_BODY, create_api
from db.engine import make_engine


def assert_envelope(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"code", "message", "details"} and err["code"] == code and err["message"]
    return err


async def test_malformed_json_and_wrong_shapes_are_422(client, user, table):
    headers = {**user.headers, "Content-Type": "application/json"}
    err = assert_envelope(await client.post("/tables", content=b'{"name": ', headers=headers), 422, "invalid")
    assert err["details"][0]["field"].startswith("body")
    err = assert_envelope(await client.post("/tables", json={"name": ""}, headers=user.headers), 422, "invalid")
    assert [p["field"] for p in err["details"]] == ["body.name"] and "body.name" in err["message"]
    err = assert_envelope(await client.post("/tables", json={"name": "x", "colour": "red"}, headers=user.headers),
                          422, "invalid")
    assert err["details"][0]["field"] == "body.colour"
    err = assert_envelope(await client.post(f"/tables/{table['id']}/columns", json={"name": "X", "type": "money"},
                                            headers=user.headers), 422, "invalid")
    assert err["details"][0]["field"] == "body.type"
    assert_envelope(await client.get("/tables", params={"workspace_id": "nope"}, headers=user.headers),
                    422, "invalid")


async def test_unknown_route_and_method(client, user):
    assert_envelope(await client.get("/nothing/here", headers=user.headers), 404, "not_found")
    assert_envelope(await client.put("/tables", headers=user.headers), 405, "method_not_allowed")


async def test_values_the_database_cannot_store_are_422(client, user, table):
    err = assert_envelope(await client.post("/tables", json={"name": "nul\u0000byte"}, headers=user.headers),
                          422, "invalid")
    assert "NUL" in err["message"]
    r = await client.post(f"/tables/{table['id']}/records", json={"values": {"Title": "a\u0000b"}},
                          headers=user.headers)
    assert_envelope(r, 422, "invalid")
    assert (await client.get(f"/tables/{table['id']}/records", headers=user.headers)).json()["total"] == 0


async def test_body_over_50_mb_is_413(client, user, table):
    url = f"/tables/{table['id']}/records"
    big = b'{"values": {"Notes": "' + b"x" * MAX_BODY + b'"}}'
    headers = {**user.headers, "Content-Type": "application/json"}
    assert_envelope(await client.post(url, content=big, headers=headers), 413, "too_large")

    async def chunks():
        # no Content-Length: the limit must hold while the body streams in
        yield b'{"values": {"Notes": "'
        for _ in range(51):
            yield b"x" * (1024 * 1024)
        yield b'"}}'

    assert_envelope(await client.post(url, content=chunks(), headers=headers), 413, "too_large")
    assert (await client.get(url, headers=user.headers)).json()["total"] == 0


async def test_unexpected_failure_is_a_500_envelope_without_internals(services, caplog):
    # a database that does not exist: every request fails deep inside the driver
    from sqlalchemy.engine import make_url

    url = make_url(services.database_url).set(database="tablechat_no_such_db").render_as_string(False)
    broken = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with AsyncClient(transport=ASGITransport(app=create_api(broken)), base_url="http://t") as c:
            with caplog.at_level(logging.ERROR, logger="tablechat.api"):
                r = await c.get("/tables", headers={"Authorization": "Bearer tc_whatever"})
    finally:
        await broken.dispose()
    err = assert_envelope(r, 500, "internal")
    assert err["message"] == "Internal server error" and err["details"] == {}
    assert "tablechat_no_such_db" not in r.text and "Traceback" not in r.text
    assert any("tablechat_no_such_db" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)
