"""The API mounted at /api/v1 in front of an app that, like Chainlit, ends with a catch-all page."""

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from httpx import ASGITransport, AsyncClient

from api.mount import mount_api


def ui_app() -> FastAPI:
    ui = FastAPI()

    @ui.get("/{full_path:path}")
    async def page(full_path: str) -> HTMLResponse:
        return HTMLResponse(f"<html>ui {full_path}</html>")

    return ui


async def test_mounted_api_wins_over_the_catch_all(engine, user):
    ui = ui_app()
    api = mount_api(ui, engine)
    assert mount_api(ui, engine) is api  # a second call does not mount it again
    async with AsyncClient(transport=ASGITransport(app=ui), base_url="http://testserver") as c:
        doc = await c.get("/api/v1/openapi.json")
        assert doc.status_code == 200
        spec = doc.json()
        assert spec["servers"] == [{"url": "/api/v1"}]
        assert {"/tables", "/tables/{table_id}/updates", "/tables/{table_id}/records/{record_id}/cells/{column_id}"} \
            <= set(spec["paths"])
        assert "bearer" in str(spec["components"]["securitySchemes"]).lower()
        docs = await c.get("/api/v1/docs")
        assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text

        r = await c.get("/api/v1/me", headers=user.headers)
        assert r.status_code == 200 and r.json()["name"] == user.name
        r = await c.get("/api/v1/tables")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await c.get("/api/v1/no/such/route", headers=user.headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await c.get("/api/v1/tables/%0Aabc", headers=user.headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await c.get("/threads/abc")
        assert r.status_code == 200 and r.text == "<html>ui threads/abc</html>"
