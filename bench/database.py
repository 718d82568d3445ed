"""A throwaway database for one bench run: created and migrated at the start, dropped at the end."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


@contextmanager
def bench_database() -> Iterator[str]:
    """The URL of a new `tablechat_bench_<random>` database on the server tablechat would use; the
    environment points the app's settings at it while the block runs, and it is dropped even on failure."""
    from core import services
    from core.settings import get_settings
    from db.migrate import upgrade

    found = services.resolve(db_name="postgres")
    name = f"tablechat_bench_{secrets.token_hex(4)}"
    # the bench builds tables of its own (bench/eav.py): it runs as the owner of the schema
    url = make_url(found.owner_url).set(database=name).render_as_string(hide_password=False)
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "REDIS_URL")}
    try:
        with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            upgrade(url)
            os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = url, found.redis_url
            get_settings.cache_clear()
            yield url
        finally:
            with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        found.stop()
