"""AI columns of a schema proposal that would read each other in a circle, once it is applied: the
table's columns as the proposal leaves them (removed ones gone, renames and new prompts in place, added
columns in), checked by the one pure function of db.ai_cycles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from db.ai_cycles import column_cycle, describe
from db.schemas import ColumnPublic
from proposals.payloads import AddColumn, ModifyColumn, RemoveColumn, SchemaProposal
from proposals.resolve import Refs, new_key


def cycle_problems(p: SchemaProposal, columns: Sequence[ColumnPublic] = ()) -> list[str]:
    """One problem naming the circle (at the operation that closes it), or none."""
    refs = Refs(columns, p.operations)
    final: dict[str, tuple[str, Any]] = {str(c.id): (c.name, c.ai) for c in columns}
    aliases: dict[str, str] = {}
    where: dict[str, int] = {}
    for i, op in enumerate(p.operations):
        if isinstance(op, AddColumn):
            final[new_key(i)] = (op.column.name, op.column.ai)
            where[new_key(i)] = i
            continue
        col = refs.column(op.column_id)
        if col is None:
            continue
        key = str(col.id)
        if isinstance(op, RemoveColumn):
            final.pop(key, None)
        elif isinstance(op, ModifyColumn) and key in final:
            name, ai = final[key]
            changes = op.changes
            if changes.name and changes.name != col.name:
                aliases[col.name.casefold()] = key  # apply makes the readers of a renamed column follow it
                name = changes.name
            if "ai" in changes.model_fields_set:
                ai = changes.ai
            final[key] = (name, ai)
            where[key] = i
    found = column_cycle([(k, name, ai) for k, (name, ai) in final.items()], aliases=aliases,
                         first=sorted(where, key=lambda k: where[k]))
    if not found:
        return []
    at = next((where[k] for k, (name, _) in final.items() if k in where and name == found[0]), None)
    place = f"operations[{at}]" if at is not None else "operations"
    return [(f"{place}: AI columns would read each other in a circle: {describe(found)}; "
             "remove one of these dependencies")]
