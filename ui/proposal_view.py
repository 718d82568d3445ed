"""The Proposal element of each preview in this chat: its props, its state once decided, and the
registry the action callbacks look elements up in (so a callback only ever changes this chat's own)."""

from __future__ import annotations

import json
from typing import Any

import chainlit as cl

import jobs
from db.engine import transaction
from proposals import decisions, store
from tools import imports
from tools.base import ProposalEvent
from ui.common import account_id, thread_id


class Elements:
    """This chat's proposal elements by proposal id (the only ones a callback may change). Not a dict:
    Chainlit saves the user session into the thread's metadata, and must leave this out."""

    def __init__(self) -> None:
        self._by_id: dict[str, cl.CustomElement] = {}

    def get(self, proposal_id: str) -> cl.CustomElement | None:
        return self._by_id.get(proposal_id)

    def __setitem__(self, proposal_id: str, element: cl.CustomElement) -> None:
        self._by_id[proposal_id] = element

    def __bool__(self) -> bool:
        return bool(self._by_id)


def elements() -> Elements:
    found = cl.user_session.get("proposal_elements")
    if not isinstance(found, Elements):
        found = Elements()
        cl.user_session.set("proposal_elements", found)
    return found


# what an element knows beside its preview (a revert's title and conflicts, an import, the change its
# Apply made): another page of the preview keeps it
BESIDE_PREVIEW = ("revert", "fill_estimates", "import_rows", "import_file", "change_id", "revert_requested")


def proposal_props(preview: dict[str, Any], *, element_id: str, keep: dict[str, Any] | None = None,
                   outcome: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the Proposal element renders: the preview, the user's choices, and the outcome once decided."""
    keep = keep or {}
    props = {k: keep[k] for k in BESIDE_PREVIEW if k in keep} | preview
    props["element_id"] = element_id
    props["unselected"] = [i for i in keep.get("unselected", []) if isinstance(i, int)]
    props["include_samples"] = bool(keep.get("include_samples", True))
    props["acknowledged"] = bool(keep.get("acknowledged", False))
    props["outcome"] = outcome if outcome is not None else keep.get("outcome")
    props["error"] = None
    return props


def new_element(event: ProposalEvent) -> cl.CustomElement:
    """The inline element of a fresh preview, registered for the callbacks."""
    element = cl.CustomElement(name="Proposal", props={}, display="inline")
    element.props = proposal_props(event.preview.model_dump(mode="json"), element_id=element.id)
    element.props["fill_estimates"] = jobs.fill_estimates(event.preview)
    reverting = (event.payload or {}).get("revert")
    if reverting:  # cells changed since the change start unchecked: they keep their current value
        element.props["revert"] = {"summary": reverting.get("summary"), "conflicts": reverting.get("conflicts", [])}
        element.props["unselected"] = [i for i in reverting.get("unselected", []) if isinstance(i, int)]
    imported = imports.import_of(account_id(), event.proposal_id)
    if imported:
        element.props |= {"import_rows": imported["rows"], "import_file": imported["filename"]}
    elements()[str(event.proposal_id)] = element
    return element


async def show_decided(proposal_id: str, *, status: str) -> None:
    """A preview whose proposal was decided elsewhere (superseded, stale) shows that state."""
    element = elements().get(proposal_id)
    if element is None:
        return
    element.props = {**element.props, "status": status,
                     "outcome": element.props.get("outcome") or decisions.shown(status)}
    await element.update()


async def restore_elements(saved: list[dict[str, Any]]) -> None:
    """After a reload: this chat's previews as the callbacks know them, each brought up to its stored
    state (a proposal may have been decided while no browser was connected), and the live view."""
    found = elements()
    live = None
    for e in saved:
        props = e.get("props") or {}
        if isinstance(props, str):
            props = json.loads(props)
        if e.get("type") != "custom":
            continue
        element = cl.CustomElement(id=e["id"], name=e["name"], props=props, display=e.get("display") or "inline",
                                   for_id=e.get("forId"))
        if e["name"] == "Proposal" and props.get("proposal_id"):
            found[props["proposal_id"]] = element
        elif e["name"] == "LiveTable":
            live = element
    if live is not None:
        cl.user_session.set("live", live)
    if not found:
        return
    account = account_id()
    async with transaction(account) as conn:
        stored = await store.list_by_thread(conn, thread_id(), account_id=account)
    for p in stored:
        element = found.get(str(p.id))
        if element is not None and element.props.get("status") != p.status:
            results = p.results or []
            element.props = {**element.props, "status": p.status, "results": results,
                             "outcome": element.props.get("outcome") or decisions.shown(p.status, results, p.kind)}
            await element.update()
