"""The offline model: deterministic, no network, behind the same `Model` interface as Claude.

It understands a fixed set of requests in everyday words (a new table with the columns people list and
types read from their words, add/remove/rename/change columns, add rows, delete or change rows where…,
fill a column; tests/agent/offline_corpus.json holds examples) and answers like Claude would: it looks
at the active table with `get_table` or `query_rows` first, then proposes with real column and row ids,
and its text says what was proposed, where to look, and which buttons to press. Anything else gets
"I didn't understand" and the list of what it can do. It is rules and vocabulary only: a turn takes
well under a millisecond of CPU.

Modules: `words` (vocabulary, Intent), `columns` (a listed column and its type), `create` (a request
for a new table), `column_requests` (add columns), `intents` (one request → an Intent), `design` +
`templates` (new tables and sample rows), `conversation` (reading the messages, the Step),
`schema_steps` / `row_steps` (one step per kind of request), `handlers`, `compound` (several requests in
one message), `data` (imports, charts, exports), `planner` (this turn's step), `model` (the streaming
`Model`). User text in replies goes through `core.markdown.md_text`."""

from agent.offline.compound import parse_compound, split_request
from agent.offline.design import design_table
from agent.offline.intents import Intent, parse_intent
from agent.offline.model import OfflineModel
from agent.offline.planner import plan

__all__ = ["Intent", "OfflineModel", "design_table", "parse_compound", "parse_intent", "plan", "split_request"]
