"""`python -m bench.subscribers URL TOKEN TABLE CURSOR N`: N views following one table's event stream, in
a process of their own as browsers would be (so that their parsing does not share the server's loop).
Prints `ready` once all N have caught up, then one line `seq wall-clock-time` per change per view."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx


async def follow(http: httpx.AsyncClient, path: str, opened: list[int], n: int, out: list[str]) -> None:
    async with http.stream("GET", path) as r:
        r.raise_for_status()
        name = None
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and name == "change":
                out.append(f"{json.loads(line[5:])['seq']} {time.time()}")
            elif line.startswith("data:") and name == "ready":
                opened[0] += 1
                if opened[0] == n:
                    print("ready", flush=True)


async def main(url: str, token: str, table: str, cursor: int, n: int) -> None:
    out: list[str] = []
    opened = [0]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=httpx.Timeout(60, read=None)) as http:
        tasks = []
        for i in range(n):
            tasks.append(asyncio.create_task(follow(http, f"/tables/{table}/events?cursor={cursor}", opened, n, out)))
            if i % 20 == 19:
                await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)  # the parent says when it is done
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    url, token, table, cursor, n = sys.argv[1:6]
    asyncio.run(main(url, token, table, int(cursor), int(n)))
