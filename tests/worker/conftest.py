"""Fixtures for the fill pipeline (helpers are in workerkit.py)."""

from __future__ import annotations

import pytest
from fakes.cell_llm import CellLLM
from workerkit import Pipeline


@pytest.fixture(scope="session")
def cell_llm():
    with CellLLM() as fake:
        yield fake


@pytest.fixture
def fake(cell_llm):
    """The fake LLM, reset to instant, correct answers."""
    cell_llm.reset()
    return cell_llm


@pytest.fixture(scope="module")
def pipeline(services, cell_llm):
    """Running only while a module of these tests runs: it would fill other tests' jobs too."""
    p = Pipeline(services, cell_llm)
    p.start()
    yield p
    p.stop()
