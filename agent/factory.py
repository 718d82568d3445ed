"""Which model answers: Claude when configured (an API key, or TABLECHAT_LLM=anthropic), else the offline one."""

from __future__ import annotations

from agent.model import Model
from core.settings import Settings, get_settings


def make_model(settings: Settings | None = None) -> Model:
    """The chat model for these settings; neither the SDK nor the offline rules load until chosen."""
    settings = settings or get_settings()
    if settings.llm_kind == "offline":
        from agent.offline import OfflineModel

        return OfflineModel()
    from agent.anthropic_model import AnthropicModel

    return AnthropicModel(model=settings.chat_model)
