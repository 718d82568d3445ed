"""What every `tablechat` command shares: finding the services, and running a function on the database.

Command modules (`cli/*_commands.py`, `cli/worker_command.py`) import from here, never from `cli.main`,
which only assembles the parser from their `register` functions.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any

from core.services import Services, resolve
from core.settings import get_settings


def services() -> Services:
    """Resolve PostgreSQL and Redis and point this process (and what it starts) at them; the caller
    `stop`s the result at the end (which stops embedded servers no other process uses)."""
    found = resolve()
    os.environ["DATABASE_URL"] = found.database_url
    os.environ["REDIS_URL"] = found.redis_url
    get_settings.cache_clear()
    return found


def run_db(fn: Callable[[Any], Coroutine[Any, Any, Any]], migrate: bool = True) -> Any:
    """Run `fn(conn)` in one system transaction on the configured database."""
    from db.engine import dispose_engines, transaction
    from db.migrate import upgrade

    found = services()
    try:
        if migrate:
            upgrade(found.owner_url, app_url=found.database_url)

        async def main() -> Any:
            try:
                async with transaction(None) as conn:
                    return await fn(conn)
            finally:
                await dispose_engines()

        return asyncio.run(main())
    finally:
        found.stop()
