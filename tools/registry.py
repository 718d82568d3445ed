"""The tools the agent may call with their facts (label, proposal kind, whether they end the turn), their
definitions for the model, and `run_tool`, which never raises. The loop, the reply guidance and the chat UI
read a tool's facts here and nowhere else."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from db.errors import ServiceError
from proposals.validate import ACTIONS
from tools import ai, analyze, enrich, export, history, imports, proposals, tables, workspaces
from tools.base import ProposalKind, Tool, ToolContext, ToolError, ToolResult, error

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ToolFacts:
    """What the app knows of a tool besides its definition: the label the chat shows while it runs, the
    kind of proposal (create / update / data, whose buttons the reply must name) a successful call
    shows for a given input, and whether such a call always ends the turn (a proposal awaits the user)."""

    label: str
    proposes: Callable[[dict[str, Any]], ProposalKind] | None = None
    ends_turn: bool = False


def _schema_kind(given: dict[str, Any]) -> ProposalKind:
    return "create" if given.get("mode") == "create" else "update"


def _import_kind(given: dict[str, Any]) -> ProposalKind:
    return "create" if given.get("target") == "new_table" else "data"


def _enrich_kind(given: dict[str, Any]) -> ProposalKind:
    return "update" if given.get("new_column") else "data"  # a sample for a new column comes as a schema change


def _change_kind(given: dict[str, Any]) -> ProposalKind:
    return "delete" if given.get("action") == "delete_table" else "rename"


_ALL: tuple[tuple[Tool, ToolFacts], ...] = (
    (tables.list_tables, ToolFacts("List tables")),
    (tables.get_table, ToolFacts("Look at the table")),
    (tables.query_rows, ToolFacts("Query rows")),
    (proposals.propose_schema, ToolFacts("Propose a schema", _schema_kind, ends_turn=True)),
    (proposals.propose_data, ToolFacts("Propose data changes", lambda _given: "data", ends_turn=True)),
    (analyze.analyze_table, ToolFacts("Analyse the table")),
    (export.export_table, ToolFacts("Export the table")),
    (imports.propose_import, ToolFacts("Propose an import", _import_kind, ends_turn=True)),
    (ai.fill_column, ToolFacts("Fill an AI column")),
    # its result ends the turn only when it shows a sample to apply
    (enrich.enrich_column, ToolFacts("Enrich a column", _enrich_kind)),
    (history.revert_change, ToolFacts("Prepare a revert", lambda _given: "data", ends_turn=True)),
    (proposals.propose_table_change, ToolFacts("Propose a deletion or a rename", _change_kind, ends_turn=True)),
    (workspaces.share_workspace, ToolFacts("Share the workspace")),
)
TOOLS: dict[str, Tool] = {t.name: t for t, _ in _ALL}
FACTS: dict[str, ToolFacts] = {t.name: f for t, f in _ALL}


def facts(name: str) -> ToolFacts:
    """The facts of a tool; a name the registry does not know (a model's mistake) shows as it is."""
    return FACTS.get(name) or ToolFacts(label=name)


def proposal_kind(name: str, given: dict[str, Any] | None) -> ProposalKind:
    """The proposal kind (create / update / data) a proposing tool call made."""
    found = facts(name).proposes
    return found(given or {}) if found is not None else "data"

MAX_PROBLEMS = 20


@functools.cache
def _definitions() -> tuple[dict[str, Any], ...]:
    # building the JSON schemas takes ~35 ms: once per process, not on every turn
    return tuple(t.definition() for t in TOOLS.values())


def tool_definitions() -> list[dict[str, Any]]:
    """Every tool as `{"name", "description", "input_schema"}` for the Messages API (fresh top-level
    dicts, so a caller may add `cache_control`; the schemas inside are shared and must not be changed)."""
    return [dict(d) for d in _definitions()]


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    prev: Any = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (isinstance(prev, int) and part in ACTIONS):  # a union's tag adds nothing to the path
            out += ("." if out else "") + str(part)
        prev = part
    return out or "input"


def _got(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def describe_validation(exc: ValidationError, tool_name: str) -> str:
    """One line per problem, naming where it is and what was given, so the model can fix its call."""
    lines = []
    for e in exc.errors(include_url=False)[:MAX_PROBLEMS]:
        line = f"- {_where(e['loc'])}: {e['msg']}"
        if e["type"] not in ("missing",) and "input" in e and not isinstance(e["input"], (dict, list)):
            line += f" (got {_got(e['input'])})"
        lines.append(line)
    more = exc.error_count() - len(lines)
    if more > 0:
        lines.append(f"- … and {more} more")
    return (
        f"Invalid input for {tool_name} ({exc.error_count()} problem(s)); fix and call again:\n"
        + "\n".join(lines)
    )


def describe_service_error(exc: ServiceError) -> str:
    message = exc.message
    known = exc.details.get("known")
    if known:
        message += f" (columns: {', '.join(map(str, known[:50]))})"
    return message


async def _more_problems(found: Tool, ctx: ToolContext, raw_input: Any) -> str:
    """What else is wrong with a refused input, so that one answer lists every problem."""
    if found.more_problems is None:
        return ""
    try:
        more = await found.more_problems(ctx, raw_input)
    except Exception:  # the shape problems are still worth telling
        log.exception("checking %s further failed", found.name)
        return ""
    return "\nAlso fix these in the same call:\n" + "\n".join(f"- {p}" for p in more) if more else ""


async def run_tool(ctx: ToolContext, name: str, raw_input: Any) -> ToolResult:
    """Validate the input and run the tool; every failure comes back as an is_error result."""
    found = TOOLS.get(name)
    if found is None:
        return error(f"Unknown tool {name!r}; the tools are: {', '.join(TOOLS)}.")
    try:
        args = found.input_model.model_validate(raw_input if raw_input is not None else {})
    except ValidationError as exc:
        return error(describe_validation(exc, name) + await _more_problems(found, ctx, raw_input))
    try:
        return await found.fn(ctx, args)
    except ToolError as exc:
        return error(str(exc))
    except ServiceError as exc:
        return error(describe_service_error(exc))
    except Exception as exc:  # a tool bug must not end the conversation: the model can try another way
        log.exception("tool %s failed", name)
        return error(f"{name} failed unexpectedly ({type(exc).__name__}); try a different request.")
