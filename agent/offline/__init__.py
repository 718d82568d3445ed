"""The offline model: deterministic, no network, behind the same `Model` interface as Claude.

It understands a small set of requests (create a table of…, add/remove/rename a column, make a column
required, add rows, delete or change rows where…, fill a column) and answers like Claude would: it looks
at the active table with `get_table` or `query_rows` first, then proposes with real column and row ids,
and its text says what was proposed, where to look, and which buttons to press.

Modules: `words` (vocabulary), `intents` (one request → an Intent), `design` + `templates` (new tables),
`conversation` (reading the messages, the Step), `schema_steps` / `row_steps` (one step per kind of
request), `compound` (several requests in one message), `data` (imports, charts, exports), `planner`
(this turn's step), `model` (the streaming `Model`)."""

from agent.offline.compound import parse_compound, split_request
from agent.offline.design import design_table
from agent.offline.intents import Intent, parse_intent
from agent.offline.model import OfflineModel
from agent.offline.planner import plan

__all__ = ["Intent", "OfflineModel", "design_table", "parse_compound", "parse_intent", "plan", "split_request"]
