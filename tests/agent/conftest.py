"""Fixtures for the agent tests: a fake Anthropic server (real SSE) shared by the module, reset per test;
and, for the offline model's tests, the account, tool context and bug tables that tests/tools uses."""

from __future__ import annotations

import pytest
from fakes.anthropic_server import Behaviour, FakeAnthropic


@pytest.fixture(scope="session")
def anthropic_server():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def fake_anthropic(anthropic_server):
    """The fake server with an empty script and a prompt cache that caches any prefix."""
    anthropic_server.reset(Behaviour(min_cache_tokens=0))
    yield anthropic_server
    anthropic_server.reset()


@pytest.fixture(scope="session")
def sdk_client(anthropic_server):
    """One real `AsyncAnthropic` pointed at the fake (making one costs ~0.1 s), strict about what it gets."""
    return anthropic_server.client()


# -- the same tables as tests/tools --------------------------------------------------------------------------

from fakes.tool_tables import account, bug_row, ctx, events, make_bugs  # noqa: F401
