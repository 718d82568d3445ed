"""`/usage` in words: per table and AI column, today and in all; deleted tables and columns keep their spend."""

from ui.usage import usage_text


def test_usage_lists_tables_and_columns_with_their_spend():
    found = {"today_usd": 0.012, "total_usd": 2.5, "tables": [
        {"table_id": "t1", "name": "Leads *bold*", "today_usd": 0.012, "total_usd": 2.4, "columns": [
            {"column_id": "c1", "name": "Summary", "calls": 12, "today_usd": 0.012, "total_usd": 2.4}]},
        {"table_id": "t2", "name": None, "today_usd": 0.0, "total_usd": 0.1, "columns": [
            {"column_id": "c2", "name": None, "calls": 1, "today_usd": 0.0, "total_usd": 0.1}]},
    ]}
    text = usage_text(found, "swift-blue-river")
    assert text.splitlines()[0] == "AI spend of **swift\\-blue\\-river**: $0.0120 today (UTC), $2.50 in all."
    assert "Leads \\*bold\\*" in text  # user text is escaped in markdown
    assert "  - Summary: $0.0120 today, $2.40 in all, 12 calls" in text
    assert "(a deleted table)" in text and "(a removed column)" in text and "1 call" in text
    assert "nothing spent" in usage_text({"tables": [], "today_usd": 0, "total_usd": 0}, "w")
