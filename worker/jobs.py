"""Moved to the jobs layer (the `jobs` package): starting, estimating, reading and cancelling fills and
previews is not the workers' business. Kept only while app.py (being split into ui/) still imports
`worker.jobs`; remove it when nothing does."""

from jobs import (  # noqa: F401
    CostEstimate,
    JobPublic,
    announce,
    cancel,
    estimate_cost,
    get_job,
    start_fill,
    start_preview,
    stream_key,
)
from jobs.estimate import EST_INPUT_TOKENS_PER_VALUE, EST_OUTPUT_TOKENS_PER_CELL  # noqa: F401
from jobs.public import Scope, public  # noqa: F401
