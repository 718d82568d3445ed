"""The benchmark table: 10 columns of mixed types and deterministic rows, as a client would send them."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from db.schemas import ColumnCreate

STAGES = ["Lead", "Qualified", "Proposal", "Won", "Lost"]
TAGS = ["enterprise", "smb", "partner", "inbound", "outbound", "renewal"]
WORDS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "cyberdyne", "tyrell",
         "soylent", "vandelay", "pied", "piper", "massive", "dynamic", "oscorp", "gringotts", "monarch",
         "aperture"]

COLUMNS = [
    ColumnCreate(name="Name", type="text", required=True),
    ColumnCreate(name="Email", type="email"),
    ColumnCreate(name="Company", type="text"),
    ColumnCreate(name="Amount", type="number"),
    ColumnCreate(name="Active", type="boolean"),
    ColumnCreate(name="Signed", type="date"),
    ColumnCreate(name="Stage", type="select", options=STAGES),
    ColumnCreate(name="Tags", type="multi_select", options=TAGS),
    ColumnCreate(name="Website", type="url"),
    ColumnCreate(name="Notes", type="long_text"),
]


def rows(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` rows keyed by column name; about one cell in twelve is left empty, as in real tables."""
    rnd = random.Random(seed)
    start = dt.date(2020, 1, 1)
    for n in range(count):
        first, second = rnd.choice(WORDS), rnd.choice(WORDS)
        row: dict[str, Any] = {
            "Name": f"{first.title()} {second.title()} {n}",
            "Email": f"{first}.{n}@{second}.example.com",
            "Company": f"{second.title()} {rnd.choice(['Inc', 'Ltd', 'GmbH', 'LLC'])}",
            "Amount": round(rnd.uniform(0, 100_000), 2),
            "Active": rnd.random() < 0.7,
            "Signed": (start + dt.timedelta(days=rnd.randrange(2000))).isoformat(),
            "Stage": rnd.choice(STAGES),
            "Tags": rnd.sample(TAGS, rnd.randrange(0, 3)),
            "Website": f"https://{second}-{n % 977}.example.org/",
            "Notes": " ".join(rnd.choices(WORDS, k=rnd.randrange(4, 16))),
        }
        for key in ("Email", "Company", "Amount", "Signed", "Website", "Notes"):
            if rnd.random() < 0.08:
                row[key] = None
        yield row
