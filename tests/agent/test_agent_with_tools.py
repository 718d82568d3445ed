"""The whole agent path with nothing faked but Claude: real SDK → fake server, real tools, real PostgreSQL."""

from __future__ import annotations

from fakes.agent_kit import Sleeps, assert_valid_history
from fakes.anthropic_server import Reply, Text, ToolUse

from agent.anthropic_model import AnthropicModel
from agent.loop import RetryPolicy, run_turn
from agent.sink import CollectingSink
from db import accounts, records, tables
from db.engine import transaction
from db.schemas import ColumnCreate
from tools.base import ProposalEvent, ToolContext


class Emitted(list):
    async def __call__(self, event: object) -> None:
        self.append(event)


async def books(engine, unique):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"agent{unique}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    async with transaction(acc, engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=ws["id"], name="Books", description="Reading list",
                                          columns=[ColumnCreate(name="Name", type="text", required=True),
                                                   ColumnCreate(name="Pages", type="number")])
        await records.create_records(conn, table, [{"Name": f"Book {i}", "Pages": 100 + i} for i in range(30)])
    emitted = Emitted()
    ctx = ToolContext(account_id=acc, workspace_id=ws["id"], thread_id=f"thread-{unique}", engine=engine,
                      emit=emitted)
    return ctx, table, emitted


async def test_invalid_tool_input_is_corrected_and_a_proposal_ends_the_turn(fake_anthropic, sdk_client, engine, unique):
    ctx, table, emitted = await books(engine, unique)
    tid = str(table.id)
    fake_anthropic.script(
        Reply([Text("Let me look at the table."), ToolUse("get_table", {"table_id": tid, "sample_rows": 500})]),
        Reply([ToolUse("get_table", {"table_id": tid, "sample_rows": 3})]),
        Reply([Text("I've proposed adding Dune. Shall I go ahead?"), ToolUse("propose_data", {
            "table_id": tid, "reasoning": "The user asked for Dune.",
            "operations": [{"action": "add", "data": {"Name": "Dune", "Pages": 412}}]})]),
    )
    sink = CollectingSink()
    result = await run_turn(AnthropicModel(sdk_client, "claude-test"), ctx, [], "add Dune", sink,
                            retry=RetryPolicy(sleep=Sleeps()))

    sent = fake_anthropic.calls
    assert {t["name"] for t in sent[0].body["tools"]} >= {"list_tables", "get_table", "query_rows",
                                                         "propose_schema", "propose_data"}
    first_answer = sent[1].messages[-1]["content"][0]
    assert first_answer["is_error"] is True and "sample_rows" in first_answer["content"]
    second_answer = sent[2].messages[-1]["content"][0]
    assert "is_error" not in second_answer
    assert "Books" in second_answer["content"] and "Pages" in second_answer["content"]
    assert len(second_answer["content"]) < 4000  # a small result, whatever the table's size

    assert len(sent) == 3 and result.stop == "awaiting_user" and result.proposal == "data"
    [event] = [e for e in emitted if isinstance(e, ProposalEvent)]
    assert event.kind == "data" and event.table_id == table.id
    async with transaction(ctx.account_id, engine=engine) as conn:
        assert await records.count_records(conn, table.id) == 30  # proposed, not applied
    assert "Shall I" not in sink.text and "**Apply**" in sink.text and "**Dismiss**" in sink.text
    assert_valid_history(result.history)
