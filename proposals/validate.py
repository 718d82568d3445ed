"""Checking a proposal against its table before anyone sees it. Every problem is a sentence the model
can act on (SPEC §6); `normalize` then pins names to column ids so later renames do not break it.

Long because every operation kind has its checks here, and the sentences they return must agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationError

from db.coerce import coerce, is_empty
from db.errors import Invalid
from db.records import ColumnIndex
from db.tables import CHOICE_TYPES
from proposals.cycles import cycle_problems
from proposals.payloads import (
    AddColumn,
    AddRow,
    DataProposal,
    DeleteRow,
    ModifyColumn,
    Proposal,
    RemoveColumn,
    ReorderColumn,
    SchemaProposal,
    UpdateRow,
    to_json,
)
from proposals.resolve import Coercer, Refs
from proposals.snapshot import TableSnapshot

MAX_PROBLEMS = 25
ACTIONS = {"add", "modify", "remove", "reorder", "update", "delete"}
PLACEHOLDER = re.compile(r"\{([^{}]{1,200})\}")


class ProposalInvalid(Invalid):
    """A proposal the model has to fix; `problems` lists each one."""

    code = "invalid_proposal"

    def __init__(self, problems: list[str]):
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        text = "\n".join(f"- {p}" for p in shown) + (f"\n- …and {more} more" if more else "")
        super().__init__(
            f"The proposal was not shown to the user. Fix these problems and propose again:\n{text}",
            problems=shown,
        )
        self.problems = problems


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    prev: Any = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (isinstance(prev, int) and part in ACTIONS):  # the union's tag adds nothing
            out += ("." if out else "") + str(part)
        prev = part
    return out or "payload"


def _nul_problems(payload: Any) -> list[str]:
    """Where the payload holds a NUL character, which PostgreSQL cannot store in JSON."""
    problems: list[str] = []
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            problems.append(f"{where or 'payload'}: text cannot contain the NUL character (\\u0000)")
        elif isinstance(value, dict):
            for key, item in value.items():
                path = (f"{where}.{key}" if where else str(key)).replace("\x00", "\\u0000")
                if isinstance(key, str) and "\x00" in key:
                    problems.append(f"{path}: a name cannot contain the NUL character (\\u0000)")
                stack.append((path, item))
        elif isinstance(value, list):
            stack += [(f"{where}[{i}]", item) for i, item in enumerate(value)]
    return sorted(problems)


def parse(payload: Any, what: Literal["schema", "data"]) -> Proposal:
    """The payload as a model, or ProposalInvalid naming each field that is wrong."""
    if problems := _nul_problems(payload):
        raise ProposalInvalid(problems)
    model = SchemaProposal if what == "schema" else DataProposal
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise ProposalInvalid(problems) from None


def validate(proposal: Proposal, table: TableSnapshot | None) -> list[str]:
    """Problems a model can fix; empty when the proposal can be shown. `table` is None for a new table."""
    if isinstance(proposal, DataProposal):
        if table is None:
            return ["table_id: no table given and no table is active; name the table to change"]
        return _data_problems(proposal, table)
    if proposal.mode == "create":
        return _create_problems(proposal)
    if table is None:
        return ["table_id: no table given and no table is active; name the table to change"]
    return _update_problems(proposal, table)


def _column_problems(where: str, name: str, ctype: str, options: list[str] | None) -> list[str]:
    if ctype in CHOICE_TYPES and not options:
        return [f'{where}: column "{name}" is {ctype} and needs a list of options']
    if ctype not in CHOICE_TYPES and options:
        return [f'{where}: column "{name}" is {ctype}, which takes no options (use select or multi_select)']
    return []


def _ai_problems(where: str, name: str, ai: Any, names: Mapping[str, str]) -> list[str]:
    """`names` maps casefolded names to the columns the AI column may read once the proposal is applied."""
    if ai is None:
        return []
    out = []
    for dep in ai.depends_on:
        if dep.strip().casefold() == name.casefold():
            out.append(f'{where}: AI column "{name}" cannot depend on itself')
        elif dep.strip().casefold() not in names:
            out.append(
                f'{where}: AI column "{name}" depends on unknown column "{dep}"; '
                f"columns are: {', '.join(names.values())}"
            )
    return out


def _create_problems(p: SchemaProposal) -> list[str]:
    problems: list[str] = []
    specs: dict[str, Any] = {}
    for i, op in enumerate(p.operations):
        col = op.column  # type: ignore[union-attr]
        where = f"operations[{i}]"
        if col.name.casefold() in specs:
            problems.append(f'{where}: two columns are named "{col.name}"')
        specs.setdefault(col.name.casefold(), col)
        problems += _column_problems(where, col.name, col.type, col.options)
    names = {k: v.name for k, v in specs.items()}
    for i, op in enumerate(p.operations):
        where = f"operations[{i}]"
        problems += _ai_problems(where, op.column.name, op.column.ai, names)  # type: ignore[union-attr]
        ref = op.after_column_id  # type: ignore[union-attr]
        if ref is not None and ref.strip().casefold() not in specs:
            problems.append(f'{where}: after_column_id "{ref}" is not one of the proposed columns')
    problems += cycle_problems(p)
    for n, row in enumerate(p.sample_rows or []):
        problems += _row_problems(f"sample_rows[{n}]", row, specs)
    return problems


def _row_problems(where: str, row: Mapping[str, Any], specs: Mapping[str, Any]) -> list[str]:
    out = []
    for key, value in row.items():
        spec = specs.get(str(key).strip().casefold())
        if spec is None:
            out.append(f'{where}: unknown column "{key}"')
            continue
        try:
            coerce(spec.model_dump(), value)
        except Invalid as exc:
            out.append(f"{where}: {exc.message}")
    given = {str(k).strip().casefold() for k, v in row.items() if not is_empty(v)}
    for key, spec in specs.items():
        if spec.required and spec.ai is None and key not in given:
            out.append(f'{where}: required column "{spec.name}" has no value')
    return out


def _update_problems(p: SchemaProposal, snap: TableSnapshot) -> list[str]:
    table = snap.table
    refs = Refs(table.columns, p.operations)
    problems: list[str] = []
    known = ", ".join(refs.names())
    touched: dict[str, int] = {}
    removed: set[str] = set()
    renamed: dict[str, str] = {}
    added: dict[str, str] = {}
    for i, op in enumerate(p.operations):
        where = f"operations[{i}]"
        if isinstance(op, AddColumn):
            continue
        col = refs.column(op.column_id)
        if col is None:
            problems.append(f'{where}: unknown column "{op.column_id}"; columns are: {known}')
            continue
        key = str(col.id)
        if not isinstance(op, ReorderColumn):
            if key in touched:
                problems.append(
                    f'{where}: column "{col.name}" is already changed by operations[{touched[key]}]; '
                    "merge them into one operation"
                )
            touched[key] = i
        if isinstance(op, RemoveColumn):
            removed.add(key)
        elif isinstance(op, ModifyColumn) and op.changes.name and op.changes.name != col.name:
            renamed[key] = op.changes.name
    for i, op in enumerate(p.operations):
        if isinstance(op, AddColumn):
            name = op.column.name.casefold()
            clash = refs.by_name.get(name)
            if name in added or (clash is not None and str(clash.id) not in removed):
                problems.append(f'operations[{i}]: a column named "{op.column.name}" already exists')
            added.setdefault(name, op.column.name)
    final = {c.name.casefold(): c.name for c in table.columns if str(c.id) not in removed}
    for key in renamed:
        final.pop(refs.by_id[key].name.casefold(), None)
    for key, new in renamed.items():
        if new.casefold() in final or new.casefold() in added:
            problems.append(f'operations[{touched[key]}]: a column named "{new}" already exists')
        final[new.casefold()] = new
    final |= added
    for i, op in enumerate(p.operations):
        where = f"operations[{i}]"
        if isinstance(op, AddColumn):
            problems += _add_problems(where, op, final, refs, snap)
        elif isinstance(op, ModifyColumn) and (col := refs.column(op.column_id)) is not None:
            problems += _modify_problems(where, op, col, final, snap)
        elif isinstance(op, RemoveColumn) and (col := refs.column(op.column_id)) is not None:
            users = [
                c.name
                for c in table.columns
                if c.ai
                and str(c.id) not in removed
                and col.name.casefold() in {d.casefold() for d in c.ai.get("depends_on", [])}
            ]
            users += [
                o.column.name
                for o in p.operations
                if isinstance(o, AddColumn)
                and o.column.ai
                and col.name.casefold() in {d.casefold() for d in o.column.ai.depends_on}
            ]
            if users:
                problems.append(
                    f'{where}: column "{col.name}" is used by AI column(s) {", ".join(users)}; '
                    "change or remove those too"
                )
        elif isinstance(op, ReorderColumn) and (col := refs.column(op.column_id)) is not None:
            if str(col.id) in removed:
                problems.append(f'{where}: column "{col.name}" is being removed; moving it does nothing')
            elif op.after_column_id is not None and refs.key(op.after_column_id) is None:
                problems.append(
                    f'{where}: after_column_id "{op.after_column_id}" names no column; columns are: {known}'
                )
    return problems + cycle_problems(p, table.columns)


def _add_problems(
    where: str, op: AddColumn, final: Mapping[str, str], refs: Refs, snap: TableSnapshot
) -> list[str]:
    col = op.column
    out = _column_problems(where, col.name, col.type, col.options)
    out += _ai_problems(where, col.name, col.ai, final)
    if col.required and col.ai is None and snap.total_rows:
        out.append(
            f'{where}: column "{col.name}" cannot be required: the table has {snap.total_rows} rows '
            "and none has a value for it yet"
        )
    if op.after_column_id is not None and refs.key(op.after_column_id) is None:
        out.append(
            f'{where}: after_column_id "{op.after_column_id}" names no column; '
            f"columns are: {', '.join(refs.names())}"
        )
    return out


def _modify_problems(
    where: str, op: ModifyColumn, col: Any, final: Mapping[str, str], snap: TableSnapshot
) -> list[str]:
    ch = op.changes
    merged = col.model_dump() | ch.model_dump(exclude_unset=True)
    if (
        "type" in ch.model_fields_set
        and merged["type"] not in CHOICE_TYPES
        and "options" not in ch.model_fields_set
    ):
        merged["options"] = None
    out = _column_problems(where, merged["name"], merged["type"], merged["options"])
    if "ai" in ch.model_fields_set:
        out += _ai_problems(where, merged["name"], ch.ai, final)
    if out or not ({"type", "options", "required"} & ch.model_fields_set):
        return out
    key = str(col.id)
    for row in snap.rows:
        cell = row.cells.get(key)
        value = cell.value if cell else None
        if is_empty(value):
            if merged["required"] and not merged.get("ai"):
                return out + [
                    f'{where}: column "{merged["name"]}" cannot be required: row {row.id} has no value'
                ]
            continue
        try:
            coerce(merged, value)
        except Invalid as exc:
            return out + [f"{where}: existing value in row {row.id} does not fit: {exc.message}"]
    return out


def _data_problems(p: DataProposal, snap: TableSnapshot) -> list[str]:
    idx = ColumnIndex(snap.table.columns)
    coerce_values = Coercer(snap.table.columns)
    rows = snap.row_map()
    problems: list[str] = []
    listed = False
    seen: dict[int, int] = {}
    for i, op in enumerate(p.operations):
        where = f"operations[{i}]"
        if isinstance(op, (UpdateRow, DeleteRow)):
            where += f" ({op.action} row {op.row_id})"
            if op.row_id not in rows:
                problems.append(f"{where}: row {op.row_id} does not exist in this table")
                continue
            if op.row_id in seen:
                problems.append(
                    f"{where}: row {op.row_id} is already in operations[{seen[op.row_id]}]; "
                    "one operation per row"
                )
                continue
            seen[op.row_id] = i
        try:
            if isinstance(op, AddRow):
                coerce_values(op.data, partial=False)
            elif isinstance(op, UpdateRow):
                for key, value in coerce_values(op.changes, partial=True).items():
                    col = idx.by_id[key]
                    if value is None and col.required and col.ai is None:
                        raise Invalid(f'Column "{col.name}" is required and cannot be emptied')
        except Invalid as exc:
            text = exc.message
            if "known" in exc.details and not listed:
                text += f"; columns are: {', '.join(exc.details['known'])}"
                listed = True
            problems.append(f"{where}: {text}")
    return problems


def _fix_ai(ai: dict[str, Any] | None, names: Mapping[str, str], own: str) -> dict[str, Any] | None:
    """depends_on spelled as the columns are, plus the other columns the prompt names as {Column}."""
    if not ai:
        return ai
    deps: list[str] = []
    for dep in [*ai.get("depends_on", []), *PLACEHOLDER.findall(ai.get("prompt", ""))]:
        name = names.get(dep.strip().casefold())
        if name and name not in deps and name.casefold() != own.casefold():
            deps.append(name)
    return {**ai, "depends_on": deps}


def normalize(proposal: Proposal, table: TableSnapshot | None) -> Proposal:
    """A valid proposal with columns named by id (existing) or exact name (new), ready to store."""
    payload = to_json(proposal)
    if isinstance(proposal, DataProposal):
        assert table is not None
        idx = ColumnIndex(table.table.columns)
        payload["table_id"] = str(table.table.id)
        for op in payload["operations"]:
            for field in ("data", "changes"):
                if field in op:
                    op[field] = {str(idx.get(k).id): v for k, v in op[field].items()}
        return DataProposal.model_validate(payload)
    if proposal.mode == "create":
        names = {op.column.name.casefold(): op.column.name for op in proposal.operations}  # type: ignore[union-attr]
        for op in payload["operations"]:
            op["column"]["ai"] = _fix_ai(op["column"].get("ai"), names, op["column"]["name"])
            if op["column"]["ai"] is None:
                op["column"].pop("ai")
            if op.get("after_column_id"):
                op["after_column_id"] = names[op["after_column_id"].strip().casefold()]
        if proposal.sample_rows:
            payload["sample_rows"] = [
                {names[k.strip().casefold()]: v for k, v in row.items()} for row in proposal.sample_rows
            ]
        payload.pop("table_id", None)
        return SchemaProposal.model_validate(payload)
    assert table is not None
    refs = Refs(table.table.columns, proposal.operations)
    names = {c.name.casefold(): c.name for c in table.table.columns}
    for op in proposal.operations:
        if isinstance(op, AddColumn):
            names[op.column.name.casefold()] = op.column.name
        elif isinstance(op, ModifyColumn) and op.changes.name:
            names[op.changes.name.casefold()] = op.changes.name
    payload["table_id"] = str(table.table.id)
    for op in payload["operations"]:
        if "column_id" in op:
            op["column_id"] = str(refs.column(op["column_id"]).id)  # type: ignore[union-attr]
        if op.get("after_column_id"):
            col = refs.column(op["after_column_id"])
            op["after_column_id"] = str(col.id) if col else names[op["after_column_id"].strip().casefold()]
        if op["action"] == "add" and op["column"].get("ai"):
            op["column"]["ai"] = _fix_ai(op["column"]["ai"], names, op["column"]["name"])
        if op["action"] == "modify" and op["changes"].get("ai"):
            own = op["changes"].get("name") or refs.by_id[op["column_id"]].name
            op["changes"]["ai"] = _fix_ai(op["changes"]["ai"], names, own)
    return SchemaProposal.model_validate(payload)
