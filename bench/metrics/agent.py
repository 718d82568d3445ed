"""Agent and apply-path metrics of SPEC §10: the agent loop's own latency on the offline model, the prompt's
size against the table's size, 50 chat sessions through the real app's socket, and applying a 10,000-op
data proposal; each against a baseline taken in the same run.

Long because it holds four metrics with their baselines (the app server and socket client of the chat
metric are in bench/chat_app.py).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text

from agent.loop import run_turn
from agent.model import MessageDone, Model, ModelEvent, ModelRequest, TextDelta
from agent.offline import OfflineModel
from agent.sink import CollectingSink
from bench import dataset
from bench.chat_app import ChatApp, Reply, chat_round, logins
from bench.context import Bench
from bench.harness import Result, interleaved, metric, pct
from bench.metrics.data_layer import jsonb_table
from core.settings import get_settings
from db import records, tables
from db.engine import transaction
from db.schemas import ColumnCreate, TablePublic
from tools.base import ToolContext


@dataclass(frozen=True)
class AgentSizes:
    """How much each agent metric does; a test provides smaller ones as the fixture `agent_sizes`."""

    turns: int = 200  # agent turns per variant (agent_overhead_p95_ms)
    warmup: int = 20
    small_rows: int = 100  # the small table of prompt_growth_ratio (the big one is the bench's table)
    sessions: int = 50  # concurrent chat sessions (chat50_p95_s)
    solo_runs: int = 5  # single-session replies for its baseline
    apply_runs: int = 3  # 10,000-op applies (apply_10k_s), the median is kept
    reply_timeout_s: float = 60.0
    start_timeout_s: float = 120.0


async def sizes(bench: Bench) -> AgentSizes:
    async def build() -> AgentSizes:
        return AgentSizes(warmup=bench.scale.warmup)

    return await bench.fixture("agent_sizes", build)


async def _table(bench: Bench, name: str, rows: int) -> TablePublic:
    """A table of the bench's ten columns with the first `rows` rows of its dataset."""
    async with transaction(bench.account_id, engine=bench.engine) as conn:
        table = await tables.create_table(conn, workspace_id=bench.workspace_id, name=name,
                                          columns=dataset.COLUMNS)
        await records.create_records(conn, table, list(dataset.rows(rows)))
    return table


def _context(bench: Bench, table: TablePublic, thread: str) -> ToolContext:
    return ToolContext(account_id=bench.account_id, workspace_id=bench.workspace_id, thread_id=thread,
                       active_table_id=table.id, engine=bench.engine)


# -- agent_overhead_p95_ms ------------------------------------------------------------------------------

# What people ask first, in turns: most get a sentence at once, "list my tables" only after a tool call.
REQUESTS = [
    "create a table of books",
    "add a column Priority",
    "list my tables",
    "set Stage to Won where Amount is over 50000",
    "describe the table",
]


class _FirstToken(CollectingSink):
    """Keeps the moment the first reply text arrived."""

    first: float | None = None

    async def on_text(self, delta: str) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        await super().on_text(delta)


class _Immediate:
    """A model that answers every request with one sentence at once: the loop's own floor."""

    name = "immediate"
    offline = True

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        yield TextDelta("Noted.")
        yield MessageDone([{"type": "text", "text": "Noted."}], "end_turn", {"input_tokens": 1, "output_tokens": 1})


async def _first_token_ms(model: Model, ctx: ToolContext, request: str) -> float:
    """Milliseconds from the user's message to the first reply text of a new chat's turn (the whole
    turn, its tool calls and proposals included, runs to its end)."""
    sink = _FirstToken()
    start = time.perf_counter()
    result = await run_turn(model, ctx, [], request, sink)
    if sink.first is None or result.error:
        raise RuntimeError(f"the turn for {request!r} showed no text: {result.stop} {result.error}")
    return (sink.first - start) * 1000


@metric("agent_overhead_p95_ms", unit="ms", target="<= 50")
async def agent_overhead(bench: Bench) -> Result:
    """p95 from a user message to the first reply text: the agent loop with the offline model and the
    real tools on a 20-row active table, new chats asking in turns to create a table, add a column, list
    the tables (a tool call before any text), change rows and describe the table; baseline: the same
    loop with a model that answers with text at once."""
    n = await sizes(bench)
    table = await _table(bench, "Agent overhead", 20)
    offline, floor = OfflineModel(), _Immediate()
    got: dict[str, list[float]] = {"offline": [], "floor": []}
    per_request: dict[str, list[float]] = {r: [] for r in REQUESTS}
    turn = 0

    def timed(name: str, model: Model) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            nonlocal turn
            turn += 1
            request = REQUESTS[turn // 2 % len(REQUESTS)]
            ms = await _first_token_ms(model, _context(bench, table, f"bench-agent-{turn}"), request)
            if name == "offline" and len(got[name]) >= n.warmup:
                per_request[request].append(ms)
            got[name].append(ms)

        return call

    whole = await interleaved({"offline": timed("offline", offline), "floor": timed("floor", floor)},
                              n=n.turns, warmup=n.warmup)
    samples, base = got["offline"][n.warmup:], got["floor"][n.warmup:]
    slowest = max((r for r in REQUESTS if per_request[r]), key=lambda r: statistics.median(per_request[r]))
    return Result(
        value=pct(samples, 95), baseline=pct(base, 95),
        note=f"median {statistics.median(samples):.1f} ms over {n.turns} turns; slowest request "
             f"“{slowest}”; whole turn median {statistics.median(whole['offline']):.0f} ms",
        extra={"median": statistics.median(samples), "baseline_median": statistics.median(base),
               "turn_median_ms": statistics.median(whole["offline"]), "turns": n.turns,
               "per_request_median_ms": {r: round(statistics.median(v), 2) for r, v in per_request.items() if v}},
    )


# -- prompt_growth_ratio --------------------------------------------------------------------------------


class _Recording:
    """The offline model, keeping each request it got and the prompt tokens it counted for it."""

    name = "offline"
    offline = True

    def __init__(self) -> None:
        self.model = OfflineModel()
        self.requests: list[ModelRequest] = []
        self.tokens: list[int] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        async for event in self.model.stream(request):
            if isinstance(event, MessageDone):
                self.tokens.append(int(event.usage["input_tokens"]))
            yield event


@dataclass
class _Prompt:
    tokens: int  # over the turn's model calls
    after_tool_tokens: int  # the call that carries get_table's result
    tool_result_chars: int
    row_count: int


async def _describe_turn(bench: Bench, table: TablePublic) -> _Prompt:
    """The prompt tokens of a turn that looks at the table with get_table and then answers."""
    model = _Recording()
    result = await run_turn(model, _context(bench, table, f"bench-prompt-{uuid.uuid4().hex[:8]}"), [],
                            "describe the table", CollectingSink())
    if result.error or len(model.requests) != 2:
        raise RuntimeError(f"the describe turn made {len(model.requests)} calls: {result.stop} {result.error}")
    answer = model.requests[1].messages[-1]["content"][0]
    if answer.get("type") != "tool_result" or answer.get("is_error"):
        raise RuntimeError(f"get_table did not answer the second call: {str(answer)[:300]}")
    seen = json.loads(answer["content"])
    return _Prompt(sum(model.tokens), model.tokens[1], len(answer["content"]), seen["row_count"])


@metric("prompt_growth_ratio", unit="×", target="<= 1.1")
async def prompt_growth(bench: Bench) -> Result:
    """Prompt tokens of a turn that calls get_table and then answers (“describe the table”, offline
    model, both calls), on the bench's 100,000-row table over the same on its first 100 rows. Tokens are
    the offline model's count: characters of the JSON of system prompt, messages and tools over 4.
    Baseline: 1 (no growth)."""
    n = await sizes(bench)
    big = await jsonb_table(bench)
    small = await _table(bench, "Prompt growth (small)", n.small_rows)
    on_big, on_small = await _describe_turn(bench, big.table), await _describe_turn(bench, small)
    if (on_big.row_count, on_small.row_count) != (len(big.ids), n.small_rows):
        raise RuntimeError(f"get_table saw {on_big.row_count} and {on_small.row_count} rows: the comparison "
                           "would be void")
    return Result(
        value=on_big.tokens / on_small.tokens, baseline=1.0,
        note=f"{on_big.tokens:,} vs {on_small.tokens:,} tokens a turn ({on_big.row_count:,} vs "
             f"{on_small.row_count} rows); get_table result {on_big.tool_result_chars:,} vs "
             f"{on_small.tool_result_chars:,} chars",
        extra={"tokens_big": on_big.tokens, "tokens_small": on_small.tokens,
               "after_tool_tokens_big": on_big.after_tool_tokens,
               "after_tool_tokens_small": on_small.after_tool_tokens,
               "tool_result_chars_big": on_big.tool_result_chars,
               "tool_result_chars_small": on_small.tool_result_chars,
               "rows_big": on_big.row_count, "rows_small": on_small.row_count,
               "counting": "offline model: len(json of system+messages+tools) // 4"},
    )


# -- chat50_p95_s ---------------------------------------------------------------------------------------

ASK = "create a table of books"


@metric("chat50_p95_s", unit="s", target="< 1")
async def chat50(bench: Bench) -> Result:
    """p95 from sending a message to its complete reply (the task's end, after the streamed text and
    the proposal preview) for 50 chat sessions of 50 accounts asking at the same moment “create a table
    of books” through the real app's socket.io endpoint (chainlit run, offline model); any session that
    fails to open, times out or gets a reply without its buttons or preview is an error, and errors
    fail the metric. Baseline: one session alone, several times in a row."""
    n = await sizes(bench)
    app = ChatApp(bench.url, get_settings().data_dir / "bench-chat-app.log")
    try:
        await app.start(n.start_timeout_s)
        cookies = await logins(app.url, bench.engine, 1 + n.solo_runs + n.sessions)
        warm, solo_cookies, crowd = cookies[0], cookies[1:1 + n.solo_runs], cookies[1 + n.solo_runs:]
        await chat_round(app.url, [warm], ASK, n.reply_timeout_s)  # the first chat pays for lazy imports and cold caches
        solo: list[Reply] = []
        errors: list[str] = []
        for cookie in solo_cookies:
            replies, problems = await chat_round(app.url, [cookie], ASK, n.reply_timeout_s)
            solo += replies
            errors += problems
        started = time.perf_counter()
        replies, problems = await chat_round(app.url, crowd, ASK, n.reply_timeout_s)
        wall = time.perf_counter() - started
        errors += problems
        tracebacks = app.log().count("Traceback")
    finally:
        await app.stop()
    if errors or tracebacks:
        shown = "; ".join(dict.fromkeys(errors))[:1500]
        raise RuntimeError(f"{len(errors)} chat error(s), {tracebacks} traceback(s) in {app.log_path}: {shown}")
    seconds = [r.seconds for r in replies]
    firsts = [r.first_token_s for r in replies if r.first_token_s is not None]
    return Result(
        value=pct(seconds, 95), baseline=pct([r.seconds for r in solo], 95),
        note=f"{len(replies)} sessions, errors 0; median {statistics.median(seconds):.2f} s, max "
             f"{max(seconds):.2f} s; first token p95 {pct(firsts, 95):.2f} s",
        extra={"sessions": len(replies), "errors": 0, "median": statistics.median(seconds),
               "max": max(seconds), "first_token_p95": pct(firsts, 95), "round_wall_s": wall,
               "baseline_runs": len(solo)},
    )


# -- apply_10k_s ----------------------------------------------------------------------------------------

APPLY_COLUMNS = [
    ColumnCreate(name="Name", type="text", required=True),
    ColumnCreate(name="Status", type="select", options=["Open", "Closed"]),
    ColumnCreate(name="Points", type="number"),
    ColumnCreate(name="Notes", type="long_text"),
]
# Two cells of every row and their versions, in one statement, with the feed triggers firing: what
# applying updates comes down to, without the proposal's checks, plan, audit rows or deletions and adds.
BARE_UPDATE = """
UPDATE records SET
  data = data || jsonb_build_object(CAST(:s AS text), 'Closed', CAST(:p AS text), id),
  meta = meta || jsonb_build_object(
    CAST(:s AS text), coalesce(meta -> CAST(:s AS text), '{}') ||
      jsonb_build_object('v', coalesce((meta -> CAST(:s AS text) ->> 'v')::int, 0) + 1),
    CAST(:p AS text), coalesce(meta -> CAST(:p AS text), '{}') ||
      jsonb_build_object('v', coalesce((meta -> CAST(:p AS text) ->> 'v')::int, 0) + 1)),
  updated_at = now()
WHERE table_id = :t
"""


async def _bare_update_s(bench: Bench, rows: int) -> float:
    """Seconds of one UPDATE of `rows` rows (commit included) on a table like the proposal's."""
    async with transaction(bench.account_id, engine=bench.engine) as conn:
        table = await tables.create_table(conn, workspace_id=bench.workspace_id, name="Bare update",
                                          columns=APPLY_COLUMNS)
        await records.create_records(conn, table, [{"Name": f"item {i}", "Status": "Open", "Points": i,
                                                    "Notes": "x" * 40} for i in range(rows)])
    col = {c.name: str(c.id) for c in table.columns}
    try:
        start = time.perf_counter()
        async with transaction(bench.account_id, engine=bench.engine) as conn:
            res = await conn.execute(text(BARE_UPDATE), {"s": col["Status"], "p": col["Points"], "t": table.id})
        elapsed = time.perf_counter() - start
        if res.rowcount != rows:
            raise RuntimeError(f"the bare update changed {res.rowcount} of {rows} rows")
        return elapsed
    finally:
        async with transaction(None, engine=bench.engine) as conn:
            await conn.execute(text("DELETE FROM data_tables WHERE id = :t"), {"t": table.id})
            await conn.execute(text("DELETE FROM changes WHERE table_id = :t"), {"t": table.id})


@metric("apply_10k_s", unit="s", target="<= 1")
async def apply_10k(bench: Bench) -> Result:
    """Seconds to apply a 10,000-operation data proposal (5,000 updates of two cells, 2,000 deletions,
    3,000 new rows) on a 10,000-row table, commit included (bench.apply, median of its runs);
    baseline: one bare UPDATE of two cells and their versions in all 10,000 rows of such a table."""
    from bench.apply import ADDS, DELETES, ROWS, UPDATES, bench_apply_10k

    n = await sizes(bench)
    runs, bare = [], []
    for _ in range(n.apply_runs):
        runs.append((await bench_apply_10k(bench.engine))[0])
        bare.append(await _bare_update_s(bench, ROWS))
    return Result(
        value=statistics.median(runs), baseline=statistics.median(bare),
        note=f"{UPDATES:,} updates, {DELETES:,} deletions, {ADDS:,} adds; runs "
             + ", ".join(f"{r:.2f}" for r in runs) + " s",
        extra={"runs_s": [round(r, 3) for r in runs], "baseline_runs_s": [round(r, 3) for r in bare]},
    )
