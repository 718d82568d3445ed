"""A data proposal's rows tick ✓/✗ while it applies: the preview element gets the results of its shown
page and "X of N" as chunks land, at most four times a second, the last chunk coming with the outcome.
A chunk landing too soon after an update is shown when the interval is up, unless the apply ended first."""

from __future__ import annotations

import asyncio
from typing import Any

from ui import proposal_actions


class Element:
    def __init__(self, ops: list[int | None]) -> None:
        self.props: dict[str, Any] = {"status": "pending", "rows": [{"op": op} for op in ops]}
        self.sent: list[dict[str, Any]] = []
        self.updated = asyncio.Event()

    async def update(self) -> None:
        self.sent.append(self.props)
        self.updated.set()


def _results(first: int, last: int, bad: set[int] = frozenset()) -> list[dict[str, Any]]:
    return [{"index": i, "ok": i not in bad, "error": "Row 9 does not exist" if i in bad else None}
            for i in range(first, last)]


async def test_the_shown_rows_tick_and_the_bar_counts(monkeypatch):
    monkeypatch.setattr(proposal_actions, "PROGRESS_EVERY_S", 0)
    element = Element([None, 0, 1, 1500, 2999])  # a context row, then the page's operations
    tick = proposal_actions._Ticker(element, unselected=[7])
    await tick(_results(0, 1000, bad={1, 5}), 1000, 3000)
    await tick(_results(1000, 2000), 2000, 3000)
    await tick(_results(2000, 3000), 3000, 3000)  # the last: the outcome brings it
    await tick.stop()
    assert len(element.sent) == 2
    first, second = element.sent
    assert first["phase"] == "applying" and first["progress"] == {"done": 1000, "total": 3000, "failed": 2}
    assert first["unselected"] == [7]  # the user's choices, which the page alone held until now
    assert [(r["index"], r["ok"]) for r in first["results"]] == [(0, True), (1, False)]
    assert second["progress"] == {"done": 2000, "total": 3000, "failed": 2}  # failures off the page count too
    assert sorted(r["index"] for r in second["results"]) == [0, 1, 1500]


async def test_updates_are_throttled_and_the_latest_count_follows(monkeypatch):
    monkeypatch.setattr(proposal_actions, "PROGRESS_EVERY_S", 0.05)
    element = Element([0, 5])
    tick = proposal_actions._Ticker(element)
    for n in range(1, 10):
        await tick(_results(n - 1, n), n, 10)
    assert [s["progress"]["done"] for s in element.sent] == [1]
    element.updated.clear()
    await asyncio.wait_for(element.updated.wait(), 5)  # the apply waits on its next chunk: where it got shows
    assert [s["progress"]["done"] for s in element.sent] == [1, 9]
    assert sorted(r["index"] for r in element.sent[-1]["results"]) == [0, 5]
    await tick.stop()
    assert len(element.sent) == 2


async def test_nothing_is_sent_once_stopped(monkeypatch):
    monkeypatch.setattr(proposal_actions, "PROGRESS_EVERY_S", 3600)
    element = Element([0])
    tick = proposal_actions._Ticker(element)
    await tick(_results(0, 1), 1, 10)
    await tick(_results(1, 2), 2, 10)  # due in an hour
    await tick.stop()  # the apply is over: its outcome is shown next, and must stay the last word
    await tick(_results(2, 3), 3, 10)
    assert [s["progress"]["done"] for s in element.sent] == [1]
