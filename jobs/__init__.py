"""The jobs layer: fills (compute and write an AI column's cells) and previews (compute values for a
few rows, write nothing) as the API, the agent tools and the chat use them: start one, estimate its
cost, read it and its progress, cancel it. Below it, db/ holds the rows (db/ai_cells, db/previews);
above it, tools/, api/ and the chat call it; the workers (worker/) run the jobs it starts and name
their queue and actors after jobs/names.py. See docs/jobs.md.

    tools / api / chat  ->  jobs  ->  db
    worker              ->  jobs, db
"""

from jobs.estimate import COST_SHOWN_FROM, estimate_cost, fill_estimates
from jobs.fills import (
    ai_column,
    announce,
    cancel,
    column_name,
    failed_cells,
    get_job,
    models_used,
    preview_results,
    running_jobs,
    sample_rows,
    start_fill,
    start_preview,
    status_counts,
    stream_key,
    tell,
)
from jobs.public import ACTIVE, CostEstimate, JobPublic, PreviewResult, Scope

__all__ = [
    "ACTIVE", "COST_SHOWN_FROM", "CostEstimate", "JobPublic", "PreviewResult", "Scope", "ai_column", "announce", "cancel", "column_name",
    "estimate_cost", "failed_cells", "fill_estimates", "get_job", "models_used", "preview_results", "running_jobs", "sample_rows",
    "start_fill", "start_preview", "status_counts", "stream_key", "tell",
]
