"""Benchmark of §10 `import_100k_s` (a 100,000-row × 10-column CSV, bytes → committed table) and
`export_100k_s` (the same table back to CSV), on the caller's engine."""

from __future__ import annotations

import csv
import io
import random
import time
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

STATUSES = ["new", "active", "paused", "churned", "won"]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november"]


def make_csv(rows: int = 100_000, seed: int = 7) -> bytes:
    """A realistic 10-column CSV: numbers, text, email, url, boolean, date, a low-cardinality status."""
    rnd = random.Random(seed)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["ID", "Name", "Email", "Score", "Active", "Joined", "Status", "Website", "Quantity", "Notes"])
    for i in range(1, rows + 1):
        name = f"{rnd.choice(WORDS).title()} {rnd.choice(WORDS).title()}"
        w.writerow([
            i, name, f"user{i}@example.com", round(rnd.uniform(0, 100), 2), rnd.choice(("true", "false")),
            f"20{rnd.randint(10, 25)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}", rnd.choice(STATUSES),
            f"https://www.site{i % 5000}.example.com/p/{i}", rnd.randint(0, 10_000),
            " ".join(rnd.choice(WORDS) for _ in range(6)),
        ])
    return buf.getvalue().encode()


async def bench_import_100k(engine: AsyncEngine, rows: int = 100_000) -> dict[str, Any]:
    """Seconds to import a `rows` × 10 CSV (bytes → committed table) and to export that table as CSV."""
    from dataio.export import export_csv
    from dataio.importer import import_new_table
    from dataio.read import read_table_file
    from db import accounts
    from db.engine import transaction

    data = make_csv(rows)
    async with transaction(None, engine=engine) as conn:
        account = await accounts.create_account(conn, name=f"bench-{uuid.uuid4().hex[:8]}", password="bench-pw")
        workspace = await accounts.create_workspace(conn, owner_id=account)
    try:
        start = time.perf_counter()
        async with transaction(account, engine=engine) as conn:
            parsed = read_table_file(data, "bench.csv")
            result = await import_new_table(conn, workspace["id"], parsed, "Bench import")
        import_s = time.perf_counter() - start

        start = time.perf_counter()
        async with transaction(account, engine=engine) as conn:
            out = await export_csv(conn, result.table)
        export_s = time.perf_counter() - start
        lines = out.count(b"\n")
        if result.row_count != rows or lines != rows + 1:
            raise RuntimeError(f"benchmark table has {result.row_count} rows; its export has {lines} lines")
    finally:
        # the account's workspace, tables and rows go with it; the feed has no foreign key to follow
        async with transaction(None, engine=engine) as conn:
            await conn.execute(text("DELETE FROM accounts WHERE id = :a"), {"a": account})
            await conn.execute(text("DELETE FROM changes WHERE workspace_id = :w"), {"w": workspace["id"]})
    return {"import_100k_s": round(import_s, 3), "export_100k_s": round(export_s, 3)}
