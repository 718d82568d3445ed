"""Fixtures for the fill pipeline (helpers are in workerkit.py; the fake LLM is in tests/conftest.py)."""

from __future__ import annotations

import pytest
from workerkit import Pipeline


@pytest.fixture(scope="module")
def pipeline(services, cell_llm):
    """Running only while a module of these tests runs: it would fill other tests' jobs too."""
    p = Pipeline(services, cell_llm)
    p.start()
    yield p
    p.stop()
