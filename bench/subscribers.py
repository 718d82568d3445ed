"""`python -m bench.subscribers URL TOKEN TABLE CURSOR N`: N views following one table's event stream, in
a process of their own as browsers would be. They read the raw HTTP stream and only look for the events'
`seq` (browsers run elsewhere: parsing here should cost the shared CPU as little as possible). Prints
`ready` once all N have caught up, then one line `seq wall-clock-time` per change per view."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from urllib.parse import urlsplit

CHANGE = re.compile(rb'event: change\r?\ndata: \{"seq":(\d+)')
READY = re.compile(rb"event: ready\r?\n")


async def follow(host: str, port: int, path: str, token: str, opened: list[int], n: int, out: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    buffered = b""
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            at = time.time()
            buffered += chunk
            end = 0
            for m in CHANGE.finditer(buffered):
                out.append(f"{int(m.group(1))} {at}")
                end = m.end()
            r = READY.search(buffered)
            if r is not None:
                opened[0] += 1
                if opened[0] == n:
                    print("ready", flush=True)
                end = max(end, r.end())
            buffered = buffered[max(end, len(buffered) - 4096):] if end else buffered[-4096:]
    finally:
        writer.close()


async def main(url: str, token: str, table: str, cursor: int, n: int) -> None:
    parts = urlsplit(url)
    out: list[str] = []
    opened = [0]
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(follow(parts.hostname or "127.0.0.1", parts.port or 80,
                                                f"/tables/{table}/events?cursor={cursor}", token, opened, n, out)))
        if i % 20 == 19:
            await asyncio.sleep(0.05)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # the parent says when it is done
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    url, token, table, cursor, n = sys.argv[1:6]
    asyncio.run(main(url, token, table, int(cursor), int(n)))
