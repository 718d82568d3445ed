"""Fixtures for the tool tests: an account with a workspace, a context for it, and tables to work on."""

from fakes.tool_tables import account, bug_row, ctx, events, make_bugs  # noqa: F401
