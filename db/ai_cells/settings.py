"""Knobs of the queueing side (the workers have theirs in worker.settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CellSettings(BaseSettings):
    """Knobs of the queueing side (the workers have theirs in worker.settings)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)
    debounce_s: float = Field(default=1.0, ge=0, le=60, alias="TABLECHAT_AUTO_UPDATE_DEBOUNCE_S")
    calls_per_message: int = Field(default=8, ge=1, le=100, alias="TABLECHAT_CALLS_PER_MESSAGE")


def cell_settings() -> CellSettings:
    return CellSettings()


def rows_per_message() -> int:
    from core.settings import get_settings

    return get_settings().rows_per_call * cell_settings().calls_per_message
