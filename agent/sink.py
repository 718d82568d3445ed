"""Where a turn's output goes: the Chainlit entry implements `Sink`; `CollectingSink` keeps it in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Sink(Protocol):
    """What the loop tells the UI while a turn runs; every method is awaited in order."""

    async def on_text(self, delta: str) -> None:
        """More reply text, to append to the reply being shown."""

    async def on_replace_text(self, text: str) -> None:
        """The reply's whole text is now `text` (a retried call, a proposal block cut out, guidance added)."""

    async def on_tool_start(self, id: str, name: str, input: dict) -> None:
        """A tool call begins (show it as a step)."""

    async def on_tool_end(self, id: str, name: str, result: Any) -> None:
        """A tool call ended; `result` has `.content`, `.is_error`, `.ends_turn`."""

    async def on_error(self, message: str) -> None:
        """The turn failed; `message` is plain text for the user."""

    async def on_notice(self, message: str) -> None:
        """Something the user should know that is not part of the reply (stopped early, cut off…)."""

    async def on_status(self, text: str | None) -> None:
        """A passing state (Claude is busy, trying again): shown until the next status; None takes it away."""


@dataclass
class CollectingSink:
    """A sink that keeps everything: the reply text as shown, steps, errors, notices and statuses."""

    text: str = ""
    status: str | None = None  # the passing state shown now, if any
    events: list[tuple[str, Any]] = field(default_factory=list)

    async def on_text(self, delta: str) -> None:
        self.text += delta
        self.events.append(("text", delta))

    async def on_replace_text(self, text: str) -> None:
        self.text = text
        self.events.append(("replace", text))

    async def on_tool_start(self, id: str, name: str, input: dict) -> None:
        self.events.append(("tool_start", (id, name, input)))

    async def on_tool_end(self, id: str, name: str, result: Any) -> None:
        self.events.append(("tool_end", (id, name, result)))

    async def on_error(self, message: str) -> None:
        self.events.append(("error", message))

    async def on_notice(self, message: str) -> None:
        self.events.append(("notice", message))

    async def on_status(self, text: str | None) -> None:
        self.status = text
        self.events.append(("status", text))

    def of(self, kind: str) -> list[Any]:
        """The payloads of every event of one kind, in order."""
        return [payload for k, payload in self.events if k == kind]
