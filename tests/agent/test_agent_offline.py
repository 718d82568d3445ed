"""The loop with the offline model, the real tools and PostgreSQL; and the choice between the two models."""

from __future__ import annotations

import json

from fakes.agent_kit import assert_valid_history

from agent.factory import make_model
from agent.guidance import asks_permission
from agent.loop import run_turn
from agent.sink import CollectingSink
from core.settings import Settings
from db import accounts, tables
from db.engine import transaction
from db.schemas import ColumnCreate
from tools.base import ProposalEvent, ToolContext


class Emitted(list):
    async def __call__(self, event: object) -> None:
        self.append(event)


async def context(engine, unique) -> tuple[ToolContext, Emitted]:
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"offline{unique}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    emitted = Emitted()
    return ToolContext(account_id=acc, workspace_id=ws["id"], thread_id=f"t-{unique}", engine=engine,
                       emit=emitted), emitted


async def test_the_offline_model_designs_a_table_through_the_loop(engine, unique):
    ctx, emitted = await context(engine, unique)
    sink = CollectingSink()
    history: list[dict] = []
    result = await run_turn(make_model(Settings(TABLECHAT_LLM="offline")), ctx, history,
                            "Create a table of books with title, author and rating", sink)
    assert result.stop == "awaiting_user" and result.proposal == "create"
    [event] = [e for e in emitted if isinstance(e, ProposalEvent)]
    assert event.kind == "schema_create"
    assert "**Create Table**" in sink.text and "**Dismiss**" in sink.text
    assert not any(asks_permission(s) for s in sink.text.split(". "))
    assert sink.of("tool_start")[-1][1] == "propose_schema"
    assert_valid_history(history)
    assert json.loads(json.dumps(history)) == history  # it can be stored with the thread as it is


async def test_the_offline_model_looks_before_it_proposes_a_column(engine, unique):
    ctx, emitted = await context(engine, unique)
    async with transaction(ctx.account_id, engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=ctx.workspace_id, name="Films", description="",
                                          columns=[ColumnCreate(name="Title", type="text")])
    ctx.active_table_id = table.id
    sink = CollectingSink()
    result = await run_turn(make_model(Settings(TABLECHAT_LLM="offline")), ctx, [], "add a column Rating (number)",
                            sink)
    names = [s[1] for s in sink.of("tool_start")]
    assert names[-1] == "propose_schema" and names.index("propose_schema") > 0  # read the table first
    assert result.proposal == "update" and "**Apply**" in sink.text and "**Dismiss**" in sink.text
    assert [e.kind for e in emitted if isinstance(e, ProposalEvent)] == ["schema_update"]


def test_the_model_follows_the_settings():
    assert make_model(Settings(TABLECHAT_LLM="offline", ANTHROPIC_API_KEY="sk-x")).offline
    claude = make_model(Settings(ANTHROPIC_API_KEY="sk-x", TABLECHAT_LLM=None, TABLECHAT_CHAT_MODEL="claude-opus-x"))
    assert not claude.offline and claude.name == "claude-opus-x"
    assert make_model(Settings(_env_file=None, ANTHROPIC_API_KEY=None, TABLECHAT_LLM=None)).offline
