"""Test fixtures: a fresh PostgreSQL database per run (created and dropped here), migrated to head.

PostgreSQL and Redis are real: the local servers when they answer, else embedded ones (core.services).
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

RUN_ID = secrets.token_hex(4)
TEST_DB = f"tablechat_test_{RUN_ID}"


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )


_run: dict = {}


def pytest_configure(config):
    """Find (or start) the servers and create this run's database before any test module is imported:
    modules that configure clients at import (the Dramatiq broker reads REDIS_URL once) must see the
    run's servers, not the default 127.0.0.1:6379 that only happens to be right where a local one runs."""
    if config.option.collectonly or config.option.help:
        return
    from core import services as svc
    from core.settings import get_settings

    get_settings.cache_clear()
    found = svc.resolve(db_name="postgres")
    try:
        # migrated as the owner; the tests, like the app, connect as the app's own role
        owner = make_url(found.owner_url).set(database=TEST_DB).render_as_string(hide_password=False)
        url = make_url(found.database_url).set(database=TEST_DB).render_as_string(hide_password=False)
        with psycopg.connect(_admin_dsn(found.owner_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{TEST_DB}"')
        from db.migrate import upgrade

        upgrade(owner, app_url=url)
    except BaseException:
        found.stop()
        raise
    os.environ["DATABASE_URL"] = url
    os.environ["DATABASE_OWNER_URL"] = owner
    os.environ["REDIS_URL"] = found.redis_url
    os.environ.setdefault("TABLECHAT_LLM", "offline")
    get_settings.cache_clear()
    found.database_url, found.owner_url = url, owner
    _run["services"] = found


def pytest_unconfigure(config):
    """Drop the run's database; the embedded servers stop here, at the very end of the run (unless
    another process still uses them)."""
    found = _run.pop("services", None)
    if found is None:
        return
    try:
        with psycopg.connect(_admin_dsn(found.owner_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    finally:
        found.stop()


@pytest.fixture(scope="session")
def services():
    """Database and Redis URLs for this run; the database is new and is dropped at the end."""
    if "services" not in _run:
        pytest.skip("no services in this run")
    return _run["services"]


@pytest.fixture(scope="session")
def database_url(services) -> str:
    return services.database_url


@pytest.fixture(scope="session")
async def engine(database_url):
    from db.engine import dispose_engines, get_engine

    eng = get_engine(database_url)
    yield eng
    await dispose_engines()


async def _cancel_active_jobs(url: str) -> None:
    import jobs
    from db.ai_cells import active_jobs
    from db.engine import make_engine, transaction

    engine = make_engine(url, pool_size=1)
    try:
        async with transaction(None, engine=engine) as conn:
            for job in await active_jobs(conn):
                await jobs.cancel(conn, job["id"])
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def cancel_leftover_jobs(services):
    """Call before starting workers: cancels the fills that earlier modules left running or queued when
    their workers stopped. Workers sweep the whole run's database, so they would take those up first
    (bulk work reaches the broker only as workers claim it) and a module's own fill would wait behind them."""
    import asyncio

    def cancel() -> None:
        asyncio.run(_cancel_active_jobs(services.database_url))

    return cancel


@pytest.fixture
def unique() -> str:
    """A short unique suffix for names in a shared database."""
    return uuid.uuid4().hex[:8]


# -- the REST API ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def api(engine):
    """The REST API app on the run's database."""
    from api.app import create_api

    return create_api(engine)


@pytest.fixture
async def client(api):
    """An HTTP client of the API app, in process."""
    from httpx import ASGITransport, AsyncClient

    async with AsyncClient(transport=ASGITransport(app=api), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def token_headers(engine, unique):
    """A factory: the Authorization header of a new account with a workspace and an API token."""
    from db import accounts
    from db.engine import transaction

    async def make() -> dict[str, str]:
        async with transaction(None, engine=engine) as conn:
            acc = await accounts.create_account(conn, name=f"t{unique}{uuid.uuid4().hex[:4]}", password="pw-12345678")
            await accounts.create_workspace(conn, owner_id=acc)
            token = await accounts.create_token(conn, account_id=acc)
        return {"Authorization": f"Bearer {token}"}

    return make


# -- the fake Claude of the fill pipeline ----------------------------------------------------------------


@pytest.fixture(scope="session")
def cell_llm():
    """The fake Anthropic API that AI-column fills call, in a process of its own (tests/fakes/cell_llm.py)."""
    from fakes.cell_llm import CellLLM

    with CellLLM() as fake:
        yield fake


@pytest.fixture
def fake(cell_llm):
    """The fake LLM, reset to instant, correct answers."""
    cell_llm.reset()
    return cell_llm


@pytest.fixture(autouse=True)
def _chainlit_files_folder():
    """Chainlit deletes APP_ROOT/.files whenever an app process stops (the browser tests stop theirs), and
    makes it only once, at import; the chat tests that run Chainlit in this process write element files
    there, so it is there again before each test."""
    (Path(__file__).resolve().parents[1] / ".files").mkdir(exist_ok=True)
