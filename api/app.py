"""The REST API (SPEC §11): a standalone FastAPI app meant to be mounted at /api/v1."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api import errors
from api.auth import LoginCookie
from api.common import COMMON
from api.history_routes import router as history_router
from api.io_routes import router as io_router
from api.jobs_routes import router as jobs_router
from api.limits import BodyLimit
from api.routes_events import router as events_router
from api.routes_records import router as records_router
from api.routes_tables import prefs_router
from api.routes_tables import router as tables_router
from api.routes_workspaces import router as workspaces_router
from api.routes_workspaces import writes_allowed
from dataio.limits import ImportLimits

PREFIX = "/api/v1"
MAX_BODY = 50 * 1024 * 1024


def create_api(engine: AsyncEngine | None = None, *, login_cookie: LoginCookie | None = None) -> FastAPI:
    """The API app; its paths and its OpenAPI document are relative to where it is mounted (PREFIX).
    Without `engine` each request uses the configured database's engine for its event loop; with
    `login_cookie` the chat pages' script calls may sign in with their login cookie."""
    app = FastAPI(
        title="tablechat",
        version="1",
        summary="Tables, columns, records, cells and their change feed.",
        description="Authenticate with `Authorization: Bearer <token>` (`tablechat token create NAME`). "
        "Errors are `{error: {code, message, details}}`.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        servers=[{"url": PREFIX}],
        root_path_in_servers=False,
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.engine = engine
    app.state.login_cookie = login_cookie
    errors.install(app)
    # a file at the import limit (TABLECHAT_IMPORT_MAX_MB) plus its multipart envelope
    upload_bytes = ImportLimits.from_settings().max_bytes + 1024 * 1024
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY, upload_bytes=upload_bytes)
    # a route that changes a table, a job or a change set answers 403 to a viewer of its workspace first
    writers = [Depends(writes_allowed)]
    app.include_router(workspaces_router, responses=COMMON)
    app.include_router(tables_router, responses=COMMON, dependencies=writers)
    app.include_router(prefs_router, responses=COMMON)
    app.include_router(records_router, responses=COMMON, dependencies=writers)
    app.include_router(events_router, responses=COMMON)
    app.include_router(io_router, responses=COMMON, dependencies=writers)
    app.include_router(jobs_router, responses=COMMON, dependencies=writers)
    app.include_router(history_router, responses=COMMON, dependencies=writers)
    return app
