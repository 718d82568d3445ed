"""Fixtures of the UI tests; the browser ones live in browser.py for later browser tests to share."""

from browser import app_server, chromium, page, shared_app_server  # noqa: F401
