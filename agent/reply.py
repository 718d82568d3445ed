"""The reply of a turn as the user sees it: streamed a whole sentence at a time, without proposal blocks,
and without the permission questions that the end of the turn may cut (SPEC §7)."""

from __future__ import annotations

from agent import fallback, guidance
from agent.sink import Sink


class Reply:
    """The reply text over all the model calls of a turn (`text`), and what the user is shown of it while
    the turn runs (`shown`): whole sentences only, and no permission question, which the end of the turn
    may cut (SPEC §7), so nothing on screen is taken back for it."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.text = ""
        self.shown = ""
        self._call_start = 0
        self._filter = fallback.StreamFilter()
        self._in_block = False
        self._head = self._head_shown = ""  # the text up to its last line break, and that as shown

    def begin_call(self) -> None:
        self._call_start = len(self.text)
        self._filter = fallback.StreamFilter()
        self._in_block = False

    async def delta(self, text: str) -> None:
        await self._add(self._filter.feed(text))

    async def end_block(self) -> None:
        await self._add(self._filter.flush())
        self._filter = fallback.StreamFilter()
        self._in_block = False
        await self._publish(streaming=False)

    async def _add(self, text: str) -> None:
        if not text:
            return
        if not self._in_block and self.text:
            text = "\n\n" + text  # a new block of text starts a new paragraph
        self._in_block = True
        self.text += text
        await self._publish(streaming=True)

    async def abandon_call(self) -> None:
        """Take back what the current call wrote (it is being retried, it failed, or its proposal did)."""
        self.text = self.text[: self._call_start]
        self._in_block = False
        await self._publish(streaming=False)

    async def settle_call(self, texts: list[str]) -> None:
        """Make the call's text exactly its final, cleaned text blocks."""
        parts = [self.text[: self._call_start]] + texts
        self.text = "\n\n".join(p for p in parts if p)
        await self._publish(streaming=False)

    async def finish(self, text: str) -> None:
        """The reply as it ends the turn: everything in it is shown now."""
        self.text = text
        await self._show(text)

    async def _publish(self, *, streaming: bool) -> None:
        # sentences never span a line break: the text up to the last one is filtered once, not per delta
        cut = self.text.rfind("\n") + 1
        head = self.text[:cut]
        if head != self._head:
            done = head.startswith(self._head)
            more = guidance.without_permission(head[len(self._head):] if done else head)
            self._head, self._head_shown = head, (self._head_shown + more if done else more)
        await self._show(self._head_shown + guidance.without_permission(self.text[cut:], partial=streaming))

    async def _show(self, text: str) -> None:
        if text == self.shown:
            return
        if text.startswith(self.shown):
            delta, self.shown = text[len(self.shown):], text
            await self.sink.on_text(delta)
        else:
            self.shown = text
            await self.sink.on_replace_text(text)
