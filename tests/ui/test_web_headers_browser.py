"""Every answer carries a Content-Security-Policy and the framing, sniffing and referrer headers, and the
chat still works under that policy in Chromium: login, a proposal (a custom element compiled in the
browser), Create Table, the live table beside the chat — without a single CSP violation."""

from __future__ import annotations

import uuid

import httpx
import pytest
from browser import login, new_page, send_message
from playwright.async_api import expect

from db import accounts
from db.engine import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")

# every violation the page sees, whether or not the browser also logs it
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__csp.push(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def _directives(policy: str) -> dict[str, list[str]]:
    parts = [p.split() for p in policy.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


@pytest.mark.parametrize("path", ["/", "/login", "/api/v1/openapi.json", "/public/tablechat.css", "/nope"])
async def test_every_answer_carries_the_security_headers(app_server, path):
    async with httpx.AsyncClient(base_url=app_server.url) as client:
        r = await client.get(path)
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    csp = _directives(r.headers["content-security-policy"])
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert "'unsafe-inline'" not in csp["script-src"] and "*" not in csp["script-src"]
    assert csp["connect-src"] == ["'self'"] and csp["default-src"] == ["'self'"]


async def test_the_pages_inline_scripts_are_allowed_by_hash_and_nothing_else(app_server):
    async with httpx.AsyncClient(base_url=app_server.url) as client:
        page = await client.get("/")
    from api.security import inline_script_hashes

    hashes = inline_script_hashes(page.content)
    assert hashes, "the page has inline scripts"
    script_src = _directives(page.headers["content-security-policy"])["script-src"]
    assert set(hashes) <= set(script_src)
    assert [s for s in script_src if s.startswith("'sha256-")] == hashes


async def test_the_chat_works_under_the_policy_with_no_violation(chromium, app_server, engine):
    name, password = f"csp{uuid.uuid4().hex[:8]}", "pw-csp-1"
    async with transaction(None, engine=engine) as conn:
        await accounts.create_account(conn, name=name, password=password)
    page = await new_page(chromium)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    await page.context.add_init_script(RECORD_VIOLATIONS)
    try:
        await login(page, app_server.url, name, password)
        await send_message(page, "Create a table of Italian restaurants in Chicago")
        preview = page.locator('[data-testid="proposal"][data-kind="schema_create"]').last
        await expect(preview).to_contain_text("RPM Italian")
        await preview.get_by_role("button", name="Create Table").click()
        await expect(preview.get_by_test_id("proposal-outcome")).to_contain_text("Created table")
        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live).to_contain_text("Monteverde")
        await page.reload()
        await expect(page.locator("#chat-input")).to_be_visible()
        violations = await page.evaluate("window.__csp")
        assert violations == [], violations
        assert not [m for m in console if "Content Security Policy" in m], console
    finally:
        await page.context.close()


async def test_another_site_cannot_frame_the_app(chromium, app_server):
    page = await new_page(chromium)
    try:
        await page.set_content(f'<iframe id="f" src="{app_server.url}/login"></iframe>')
        await page.wait_for_timeout(1500)
        frame = page.frame_locator("#f")
        assert await frame.locator("#email").count() == 0
    finally:
        await page.context.close()
