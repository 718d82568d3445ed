"""The names the broker knows the fill messages by: one Dramatiq queue, an actor per kind of message.

The database writes a message's kind into the outbox (db/ai_cells/outbox.py: `fill`, `preview`); the
relay (worker/outbox.py) sends it to the queue and actor named here, and the actors (worker/actors.py)
are declared under these names."""

from __future__ import annotations

from db.ai_cells.outbox import FILL, PREVIEW

QUEUE = "cells"
FILL_ACTOR = "fill_rows"
PREVIEW_ACTOR = "preview_rows"
ACTORS = {FILL: FILL_ACTOR, PREVIEW: PREVIEW_ACTOR}


def destination(queue: str, kind: str) -> tuple[str, str]:
    """The Dramatiq queue and actor of an outbox row. Rows written before the outbox held kinds carry
    the queue and actor themselves: they are sent as they are."""
    actor = ACTORS.get(kind)
    return (QUEUE, actor) if actor is not None else (queue, kind)
