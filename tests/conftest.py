"""Test fixtures: a fresh PostgreSQL database per run (created and dropped here), migrated to head.

PostgreSQL and Redis are real: the local servers when they answer, else embedded ones (core.services).
"""

from __future__ import annotations

import os
import secrets
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

RUN_ID = secrets.token_hex(4)
TEST_DB = f"tablechat_test_{RUN_ID}"


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def services():
    """Database and Redis URLs for this run; the database is new and is dropped at the end."""
    from core import services as svc
    from core.settings import get_settings

    get_settings.cache_clear()
    found = svc.resolve(db_name="postgres")
    url = make_url(found.database_url).set(database=TEST_DB).render_as_string(hide_password=False)
    with psycopg.connect(_admin_dsn(found.database_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{TEST_DB}"')
    from db.migrate import upgrade

    upgrade(url)
    os.environ["DATABASE_URL"] = url
    os.environ["REDIS_URL"] = found.redis_url
    os.environ.setdefault("TABLECHAT_LLM", "offline")
    get_settings.cache_clear()
    found.database_url = url
    yield found
    with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    found.stop()


@pytest.fixture(scope="session")
def database_url(services) -> str:
    return services.database_url


@pytest.fixture(scope="session")
async def engine(database_url):
    from db.engine import dispose_engines, get_engine

    eng = get_engine(database_url)
    yield eng
    await dispose_engines()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for names in a shared database."""
    return uuid.uuid4().hex[:8]
