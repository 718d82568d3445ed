"""Fixtures for the fill pipeline (helpers are in workerkit.py; the fake LLM is in tests/conftest.py)."""

from __future__ import annotations

import asyncio

import pytest
from workerkit import Pipeline


async def _cancel_leftovers(url: str) -> None:
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


@pytest.fixture(scope="module")
def pipeline(services, cell_llm):
    """Running only while a module of these tests runs: it would fill other tests' jobs too. Jobs that
    earlier modules left queued (their workers stopped) are cancelled first: bulk work is sent to the
    broker only as workers take it, so it would still be waiting, and this module's fake would count it."""
    asyncio.run(_cancel_leftovers(services.database_url))
    p = Pipeline(services, cell_llm)
    p.start()
    yield p
    p.stop()
