"""What every part of the chat UI needs: who is signed in, who speaks for the app, and the model."""

from __future__ import annotations

import uuid
from typing import Any

import chainlit as cl

from agent.factory import make_model
from core.settings import get_settings

OFFLINE_AUTHOR = "tablechat (offline model)"
PROGRESS_EVERY_S = 0.25  # progress messages update at most four times a second


def author() -> str:
    return OFFLINE_AUTHOR if get_settings().llm_kind == "offline" else "tablechat"


def account_id() -> uuid.UUID:
    return uuid.UUID(cl.user_session.get("user").metadata["account_id"])


def thread_id() -> str:
    return cl.context.session.thread_id


def as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def int_list(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)][:100_000]


_model = None


def the_model() -> Any:
    global _model
    if _model is None:
        _model = make_model()
    return _model
