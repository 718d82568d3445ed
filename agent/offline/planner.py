"""This turn's step: from the conversation to text and tool calls."""

from __future__ import annotations

from typing import Any

from agent.model import ModelRequest
from agent.offline.compound import compound, parse_compound, split_request
from agent.offline.conversation import Done, Step, error_text, read_conversation
from agent.offline.data import plan_data
from agent.offline.handlers import HANDLERS
from agent.offline.intents import parse_intent
from agent.offline.words import clean
from core.markdown import md_text

HELP = (
    "I'm the built-in offline assistant, so I understand a fixed set of requests:\n"
    "- **create a table of …** (e.g. “create a table of Italian restaurants in Chicago”), or with its columns: "
    "**a table to track my houseplants: name, species, last watered date, light (low/medium/bright)**\n"
    "- **add a column X (type)**, **add columns Price in $, Size and Color**, "
    "**add a Priority column with options P0, P1, P2**, "
    "**add an AI column Summary: Summarize {Description} in 10 words**\n"
    "- **remove column X**, **rename X to Y**, **make X required**, **change X to number**\n"
    "- **add 3 rows**, **add a row with Name = Foo, Rating = 4**\n"
    "- **delete the rows where Status is Done**, **delete row 12**\n"
    "- **set Status to Done where Priority is P0**\n"
    "- **fill column X** / **enrich column X** (AI columns)\n"
    "- several changes of one kind at once, separated by “;”, “and” or new lines, e.g. **add a column "
    "Priority (select) and remove column Notes**\n"
    "- **list tables**, **describe the table**\n"
    "- **undo that**, **undo the last change**, **revert the import from this morning**\n"
    "- **delete the Books table**, **rename the Books table to Library**, **rename this workspace to Reading**, "
    "**share this workspace with sam as a viewer** (or editor)\n"
    "- upload a CSV or XLSX file to import it; **chart Rating by Neighborhood**, **average Rating by "
    "Neighborhood**, **export this table as xlsx**\n"
    "Changes always come as a preview in the conversation that you apply or dismiss."
)


def plan(request: ModelRequest) -> Step:
    """This turn's text and tool calls, from the request and the tool results so far."""
    ask, done = read_conversation(request.messages)
    tools = {t.get("name") for t in request.tools}
    last = done[-1] if done else None
    if last and last.name.startswith("propose_") or (last and last.name in ("fill_column", "enrich_column",
                                                                            "revert_change")):
        return _after_proposal(last)
    if (data := plan_data(ask, done)) is not None:  # uploads, charts and aggregates, exports
        return Step(*data)
    clauses = parse_compound(ask) if len(split_request(ask)) > 1 else None  # each part parsed on its own
    if clauses:
        return compound(clauses, done, tools)
    intent = parse_intent(ask)
    if intent.kind == "several":  # "add columns Price and Size": one request per column
        return compound([(ask, i) for i in intent.args["intents"]], done, tools)
    handler = HANDLERS.get(intent.kind)
    if handler is None:
        why = intent.args.get("why")
        lead = {
            "condition": "I couldn't read the condition in that request. ",
            "column name": "I couldn't tell which column you mean. ",
        }.get(why, "")
        parts = split_request(ask)
        unread = next((p for p in parts if parse_intent(p).kind == "help"), None) if len(parts) > 1 else None
        if unread:
            lead = f"I couldn't understand “{md_text(clean(unread))}”, so I haven't changed anything. " + lead
        unknown = not lead and ask.strip() and why != "asked"
        return Step(lead + ("I didn't understand that request. " if unknown else "") + HELP)
    return handler(intent, done, tools)


def _after_proposal(last: Done) -> Step:
    if last.name == "enrich_column":  # a proposal would have ended the turn: there is none
        got = last.data() if isinstance(last.data(), dict) else {}
        why = got.get("error") or got.get("note") or error_text(last.text)
        return Step(f"There is nothing to review this time: {md_text(why, limit=None)} Your table is unchanged.")
    if last.is_error and last.name == "revert_change":
        return Step(f"There is nothing to revert: {md_text(error_text(last.text), limit=None)} Your table is "
                    "unchanged.")
    if last.is_error:
        return Step(
            f"I couldn't make that change: {md_text(error_text(last.text), limit=None)}\n\nTell me what to adjust, "
            "or ask for something else."
        )
    if last.name == "fill_column":
        return Step(_fill_started(last.data() or {}))
    return Step("The proposal is shown above with its controls; nothing changes until you use them.")


def _fill_started(job: dict[str, Any]) -> str:
    if job.get("choice_needed"):
        name = md_text(job.get("column"))
        return (f"Before I start: {md_text(job.get('estimate'), limit=None)}. Say “fill column {name} now” or "
                f"“fill column {name} as a batch”.")
    if not job.get("cells_queued"):
        return job.get("note") or "There was nothing to fill."
    cost = job.get("estimated_cost_usd")
    est = f" (estimated cost ${cost:.4f})" if isinstance(cost, (int, float)) else ""
    batch = (" as a batch (half the price; results usually land within an hour, at most 24 h)"
             if job.get("mode") == "batch" else "")
    return (f"Started filling **{md_text(job.get('column'))}**{batch}: {job['cells_queued']} cells{est}. The progress "
            "message below counts up as cells complete, and the live view shows each value as it arrives.")

