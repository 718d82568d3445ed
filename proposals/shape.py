"""Reading a proposal payload so that every problem is found in one pass.

A payload whose operations are partly malformed is not given up on: the well-formed operations make a
proposal of their own that the semantic checks (proposals.validate) run on, and their problems are told
with the operation numbers of the payload as it was sent. So a model that sent a bad type, a missing
name and a duplicate column name hears of all three at once, not of the third after fixing the first two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from proposals.payloads import DataProposal, Proposal, SchemaProposal
from proposals.validate import _nul_problems, _where

OP_REF = re.compile(r"\boperations\[(\d+)\]")


@dataclass
class Parsed:
    """The proposal made of the well-formed operations (None when the payload itself is unusable), the
    shape problems, and for each kept operation its number in the payload."""

    proposal: Proposal | None
    problems: list[str] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    shape: list[str] = field(default_factory=list)  # of `problems`, those pydantic found

    def renumber(self, problems: list[str]) -> list[str]:
        """Problems of the kept operations, numbered as in the payload."""
        if self.kept == list(range(len(self.kept))):
            return problems
        return [OP_REF.sub(lambda m: f"operations[{self.kept[int(m.group(1))]}]"
                           if int(m.group(1)) < len(self.kept) else m.group(0), p) for p in problems]


def parse_all(payload: Any, what: Literal["schema", "data"]) -> Parsed:
    """Parse `payload`, keeping what can be checked further when some operations are malformed."""
    model = SchemaProposal if what == "schema" else DataProposal
    problems = _nul_problems(payload)
    try:
        p = model.model_validate(payload)
        return Parsed(p, problems, list(range(len(p.operations))))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        shape = [f"{_where(e['loc'])}: {e['msg']}" for e in errors]
        problems += shape
    ops = payload.get("operations") if isinstance(payload, dict) else None
    if not isinstance(ops, list) or not ops or any(
            not (len(e["loc"]) >= 2 and e["loc"][0] == "operations" and isinstance(e["loc"][1], int)) for e in errors):
        return Parsed(None, problems, shape=shape)  # the payload's own fields are wrong: nothing sensible to check further
    broken = {e["loc"][1] for e in errors}
    kept = [i for i in range(len(ops)) if i not in broken]
    problems += _duplicate_names(ops, broken)
    if not kept:
        return Parsed(None, problems, shape=shape)
    try:
        partial = model.model_validate({**payload, "operations": [ops[i] for i in kept]})
    except ValidationError as exc:  # e.g. a rule across operations the malformed ones hid
        more = [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        return Parsed(None, problems + more, shape=shape + more)
    return Parsed(partial, problems, kept, shape=shape)


def _duplicate_names(ops: list[Any], broken: set[int]) -> list[str]:
    """Columns added twice under one name where a malformed operation is one of the two (the semantic
    checks see the well-formed ones only, and report duplicates among those themselves)."""
    seen: dict[str, int] = {}
    out = []
    for i, op in enumerate(ops):
        column = op.get("column") if isinstance(op, dict) and op.get("action") == "add" else None
        name = column.get("name") if isinstance(column, dict) else None
        if not isinstance(name, str) or not name.strip():
            continue
        key = " ".join(name.split()).casefold()
        if key in seen and (i in broken or seen[key] in broken):
            out.append(f'operations[{i}]: two columns are named "{" ".join(name.split())}"')
        seen.setdefault(key, i)
    return out


def in_order(problems: list[str]) -> list[str]:
    """Problems sorted by the operation they are about (the payload's own fields first)."""
    def key(p: str) -> int:
        found = OP_REF.match(p)
        return int(found.group(1)) if found else -1

    return sorted(problems, key=key)
