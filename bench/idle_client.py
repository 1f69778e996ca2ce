#!/usr/bin/env python3
"""Open N keep-alive connections, send one request on each, read the response, keep them idle.

Usage: idle_client.py HOST PORT N
Prints "open N failed M secs S" once every connection has been tried, then waits for a line on
standard input (or 120 s at most) and closes everything. Bounded: it gives up after 120 s.
"""
import asyncio
import resource
import sys
import time

HOST, PORT, N = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CONCURRENCY = 200
REQ = f"GET / HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n\r\n".encode()


async def one(sem, conns, failed):
    async with sem:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(HOST, PORT), 10)
            w.write(REQ)
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await asyncio.wait_for(r.readexactly(length), 10)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head[:40])
            conns.append(w)
        except Exception:
            failed.append(1)


async def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sem = asyncio.Semaphore(CONCURRENCY)
    conns, failed = [], []
    t0 = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(one(sem, conns, failed) for _ in range(N))), 100)
    print(f"open {len(conns)} failed {len(failed)} secs {time.monotonic() - t0:.2f}", flush=True)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 120)
    except asyncio.TimeoutError:
        pass
    for w in conns:
        w.close()


asyncio.run(main())
