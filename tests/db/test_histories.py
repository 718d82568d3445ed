"""The agent's conversation per thread: stored, read back, and never another account's."""

from db import accounts, histories
from db.engine import transaction


async def test_history_round_trip_and_isolation(engine, unique):
    async with transaction(None, engine=engine) as conn:
        a = await accounts.create_account(conn, name=f"ha{unique}", password="pw-12345678")
        b = await accounts.create_account(conn, name=f"hb{unique}", password="pw-12345678")
        turn = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
        await histories.save(conn, thread_id=f"t{unique}", account_id=a, history=turn)
        await histories.save(conn, thread_id=f"t{unique}", account_id=a, history=turn * 2)
        assert await histories.load(conn, thread_id=f"t{unique}", account_id=a) == turn * 2
        assert await histories.load(conn, thread_id=f"t{unique}", account_id=b) is None
        await histories.save(conn, thread_id=f"t{unique}", account_id=b, history=[])  # not b's: ignored
        assert await histories.load(conn, thread_id=f"t{unique}", account_id=a) == turn * 2
        assert await histories.load(conn, thread_id="no-such-thread", account_id=a) is None
