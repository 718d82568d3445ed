"""AI columns that read each other in a circle can never be filled: each waits for the other. One pure
check, used wherever an AI column is made or changed (db.tables for the REST API and apply, and
proposals.validate before a proposal is shown), so a cycle is refused however it is built — at once, or in
two steps (A reads B; later B is changed to read A).

A column reads the columns its `depends_on` lists and those its prompt names as {Column}; names match
case-insensitively, as column names do. A column reading itself is told apart elsewhere ("cannot depend on
itself") and is not a cycle here; names of no column are ignored (other checks report them).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

PLACEHOLDER = re.compile(r"\{([^{}\n]{1,200})\}")  # as db.ai_cells reads prompts
K = TypeVar("K", bound=Hashable)


def reads(ai: Any) -> list[str]:
    """The column names an AI config (a dict, a model or None) reads."""
    if ai is None:
        return []
    data = ai if isinstance(ai, Mapping) else ai.model_dump()
    return [*(data.get("depends_on") or []), *PLACEHOLDER.findall(data.get("prompt") or "")]


def find_cycle(graph: Mapping[K, Iterable[K]], first: Sequence[K] = ()) -> list[K] | None:
    """A cycle of `graph` (node → the nodes it reads) as [a, b, …, a], or None. Nodes of `first` are
    tried first, and a cycle through one of them starts there (the column being changed, for the user)."""
    order = [*[k for k in first if k in graph], *[k for k in graph if k not in first]]
    state: dict[K, int] = {}  # 1: on the current path, 2: done
    for root in order:
        if state.get(root):
            continue
        path: list[K] = [root]
        todo = [iter([n for n in graph[root] if n in graph and n != root])]
        state[root] = 1
        while todo:
            node = next(todo[-1], None)
            if node is None:
                state[path.pop()] = 2
                todo.pop()
                continue
            if state.get(node) == 1:
                return path[path.index(node):] + [node]
            if not state.get(node):
                state[node] = 1
                path.append(node)
                todo.append(iter([n for n in graph[node] if n in graph and n != node]))
    return None


def column_cycle(columns: Sequence[tuple[K, str, Any]], *, aliases: Mapping[str, K] | None = None,
                 first: Sequence[K] = ()) -> list[str] | None:
    """The names around a cycle of AI columns given as (key, name, ai config), or None. `aliases` maps
    more (casefolded) names to keys: a renamed column is still found under its old name."""
    by_name: dict[str, K] = {**(aliases or {})}
    by_name |= {name.strip().casefold(): key for key, name, _ in columns}
    graph = {key: [by_name[n.strip().casefold()] for n in reads(ai) if n.strip().casefold() in by_name]
             for key, _, ai in columns}
    found = find_cycle(graph, first)
    if found is None:
        return None
    names = {key: name for key, name, _ in columns}
    return [names[k] for k in found]


def describe(cycle: Sequence[str]) -> str:
    """"Summary → Title → Summary"."""
    return " → ".join(cycle)
