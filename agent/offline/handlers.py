"""Which step answers which kind of request."""

from __future__ import annotations

from agent.offline.revert_step import revert
from agent.offline.row_steps import (
    accepted,
    add_rows,
    delete_rows,
    describe,
    dismissed,
    fill,
    list_tables,
    set_values,
    thanks,
)
from agent.offline.schema_steps import add_column_step, create, modify, on_table, remove_column, rename
from agent.offline.workspace_steps import share_workspace, table_change

HANDLERS = {
    "create": create,
    "add_column": on_table(add_column_step),
    "remove_column": on_table(remove_column),
    "rename": on_table(rename),
    "modify": on_table(modify),
    "add_rows": on_table(add_rows),
    "delete_rows": delete_rows,
    "set": set_values,
    "fill": fill,
    "list_tables": list_tables,
    "describe": describe,
    "accepted": accepted,
    "dismissed": dismissed,
    "thanks": thanks,
    "revert": revert,
    "share_workspace": share_workspace,
    "table_change": table_change,
}
