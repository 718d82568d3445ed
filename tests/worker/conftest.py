"""Fixtures for the fill pipeline (helpers are in workerkit.py; the fake LLM is in tests/conftest.py)."""

from __future__ import annotations

import pytest
from workerkit import Pipeline


@pytest.fixture(scope="module")
def pipeline(services, cell_llm, cancel_leftover_jobs):
    """Running only while a module of these tests runs: it would fill other tests' jobs too. Jobs that
    earlier modules left queued (their workers stopped) are cancelled first: bulk work is sent to the
    broker only as workers take it, so it would still be waiting, and this module's fake would count it."""
    cancel_leftover_jobs()
    p = Pipeline(services, cell_llm)
    p.start()
    yield p
    p.stop()
