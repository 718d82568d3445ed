"""The elements' shared value format, run in Chromium, writes a value as the previews' server side does."""

from browser import new_page

from core.elements import SHARED
from proposals.preview import show

SAME = [True, False, None, "", "Monteverde", 0, 3, 4.9, -12.5, ["River North", "West Loop"], []]


async def _in_browser(chromium, expression: str, values: list) -> list:
    page = await new_page(chromium)
    try:
        look = (SHARED / "look.jsx").read_text()
        return await page.evaluate(f"(values) => {{\n{look}\nreturn {expression};\n}}", values)
    finally:
        await page.context.close()


async def test_the_live_table_shows_a_value_as_the_previews_do_booleans_as_yes_no(chromium):
    shown = await _in_browser(chromium, "values.map(show)", SAME)
    assert shown == [show(v) for v in SAME]
    assert shown[:3] == ["Yes", "No", ""]


async def test_type_labels_read_with_spaces(chromium):
    assert await _in_browser(chromium, "values.map(typeLabel)", ["multi_select", "text"]) == ["multi select", "text"]
