"""The life of AI cells: queued by fill jobs, claimed by workers, written once, marked stale when their
inputs change. Plain async functions; the caller owns the transaction. One module per idea:

- `columns`: which columns an AI column reads (dependencies) and which read it (dependents);
- `settings`: the knobs of the queueing side;
- `job_rows`: the `jobs` rows, reading them and settling their counts;
- `outbox`: work messages (of a fill or a preview) written to the outbox, relayed after commit;
- `queueing`: the scope of a fill, starting one, the jobs of new rows;
- `cell_state`: the per-cell keys a job adds, and locking and rewriting a column's cells;
- `stopping`: cancelling and stopping a job;
- `claims`: the workers' claim and write of cells, and the audit of their calls;
- `stale`: hand edits leave their jobs, dependent cells go stale;
- `status`: the cells of each AI column by status;
- `recovery`: the sweeper's recovery of dead claims, stalled jobs and ended jobs' cells.

A cell's state is `records.meta[column_id]` (see db/models.Record): `v` version, `s` status, `e` error,
`p` pinned. While a job owns the cell it also holds `j` job id, `a` attempts used, `n` not-before (epoch
seconds: backoff and debounce) and `ps` the status before the job; while a worker computes it, `c` the
claim, `w` the worker's key and `t` the claim time. `h` is the hash of the inputs (`tc_input_hash`) the
value was, or is being, computed from. A job counts `total`, `done`, `failed`; it completes when
done + failed reaches total, and a cell that leaves a job early (edited by hand, taken over) lowers
its total.

The names below are the package's public face, so callers keep writing `ai_cells.start_fill(...)`.
"""

from db.ai_cells.cell_state import MAX_ATTEMPTS, WORKING_KEYS
from db.ai_cells.claims import Claimed, Outcome, Written, claim, record_runs, write_results
from db.ai_cells.columns import PLACEHOLDER, ai_column, dependencies, dependents
from db.ai_cells.job_rows import (
    ACTIVE,
    JOB_FIELDS,
    Delta,
    active_jobs,
    ended_jobs,
    get_job,
    running_in_thread,
    settle,
)
from db.ai_cells.outbox import FILL, PREVIEW, enqueue, outbox_rows
from db.ai_cells.queueing import (
    MAX_SCOPE_IDS,
    SCOPES,
    NewRows,
    close_new_row_jobs,
    count_in_scope,
    fill_new_rows,
    new_cell,
    open_new_row_jobs,
    rows_in_scope,
    scope_sql,
    start_fill,
)
from db.ai_cells.recovery import recover_dead, release_ended, requeue_stalled
from db.ai_cells.settings import CellSettings, cell_settings, rows_per_message
from db.ai_cells.stale import after_cells_written, mark_dependents, release_edited
from db.ai_cells.status import STATUSES, failed_cells, status_counts
from db.ai_cells.stopping import cancel_job, stop_job

__all__ = [
    "ACTIVE",
    "FILL",
    "JOB_FIELDS",
    "MAX_ATTEMPTS",
    "MAX_SCOPE_IDS",
    "PLACEHOLDER",
    "PREVIEW",
    "SCOPES",
    "STATUSES",
    "WORKING_KEYS",
    "CellSettings",
    "Claimed",
    "Delta",
    "NewRows",
    "Outcome",
    "Written",
    "active_jobs",
    "after_cells_written",
    "ai_column",
    "cancel_job",
    "cell_settings",
    "claim",
    "close_new_row_jobs",
    "count_in_scope",
    "dependencies",
    "dependents",
    "ended_jobs",
    "enqueue",
    "failed_cells",
    "fill_new_rows",
    "get_job",
    "mark_dependents",
    "new_cell",
    "open_new_row_jobs",
    "outbox_rows",
    "record_runs",
    "recover_dead",
    "release_edited",
    "release_ended",
    "requeue_stalled",
    "rows_in_scope",
    "rows_per_message",
    "running_in_thread",
    "scope_sql",
    "settle",
    "start_fill",
    "status_counts",
    "stop_job",
    "write_results",
]
