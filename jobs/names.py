"""The names the broker knows the fill messages by, and which work goes ahead of which.

Two Dramatiq queues: `cells` for interactive work (previews, new rows' AI cells, auto-update recomputes,
fills of fewer than SMALL_FILL cells) and `cells_bulk` for big fills. Workers keep threads for the
interactive queue, and the relay (worker/outbox.py) sends bulk messages only as the workers take them,
round-robin between workspaces (then between a workspace's jobs), so one huge fill neither delays the
cells of rows added a second later nor starves another workspace's fill.

The database writes a message's kind into the outbox (db/ai_cells/outbox.py: `fill`, `preview`); the
relay sends it to the queue and actor named here, and the actors (worker/actors.py) are declared under
these names."""

from __future__ import annotations

from db.ai_cells.batches import POLL, SUBMIT
from db.ai_cells.outbox import FILL, PREVIEW

QUEUE = "cells"  # interactive work
BULK_QUEUE = "cells_bulk"
FILL_ACTOR = "fill_rows"
BULK_FILL_ACTOR = "fill_rows_bulk"
PREVIEW_ACTOR = "preview_rows"
SUBMIT_ACTOR = "submit_batch"  # a batch fill's rows, submitted as one Message Batch
POLL_ACTOR = "poll_batch"  # has a Message Batch ended? then its results are written
ACTORS = {FILL: FILL_ACTOR, PREVIEW: PREVIEW_ACTOR, SUBMIT: SUBMIT_ACTOR, POLL: POLL_ACTOR}
URGENT_KINDS = (POLL,)  # sent at once whatever the job: a poll is one quick request

SMALL_FILL = 50  # a fill of fewer cells than this is interactive work
INTERACTIVE_REASONS = ("new_rows", "auto_update")  # jobs people are waiting for as they edit
# … unless they are this big: an import of 100,000 rows queues its AI cells as bulk work
INTERACTIVE_MAX = 1000


def is_bulk(mode: str | None, reason: str | None, total: int | None) -> bool:
    """Whether a job's messages are bulk work (see the module's docstring). A message whose job is
    unknown is sent as interactive: it costs nothing (its claim finds no cell)."""
    if mode is None or mode == "preview" or total is None or total < SMALL_FILL:
        return False
    return not (reason in INTERACTIVE_REASONS and total <= INTERACTIVE_MAX)


# The same rule in SQL over a job `j` (the relay picks messages by it); keep the two together.
BULK_SQL = (f"(j.mode IS NOT NULL AND j.mode <> 'preview' AND j.total >= {SMALL_FILL} AND NOT "
            f"(j.reason IN ({', '.join(repr(r) for r in INTERACTIVE_REASONS)}) AND j.total <= {INTERACTIVE_MAX}))")


def destination(queue: str, kind: str, bulk: bool = False) -> tuple[str, str]:
    """The Dramatiq queue and actor of an outbox row. Rows written before the outbox held kinds carry
    the queue and actor themselves: they are sent as they are."""
    actor = ACTORS.get(kind)
    if actor is None:
        return queue, kind
    if bulk and actor == FILL_ACTOR:
        return BULK_QUEUE, BULK_FILL_ACTOR
    if actor == SUBMIT_ACTOR:
        return BULK_QUEUE, actor
    return QUEUE, actor
