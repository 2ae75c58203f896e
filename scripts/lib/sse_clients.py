#!/usr/bin/env python3
"""Holds N Server-Sent Events streams of one run open for DURATION seconds (loopback), reading
whatever arrives; prints how many stayed open, messages and bytes received. Usage:
sse_clients.py PORT RUN_ID N DURATION"""
import asyncio, sys

async def client(port, run, stats, stop):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /v1/runs/{run}/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    stats["open"] += 1
    try:
        while not stop.is_set():
            try:
                chunk = await asyncio.wait_for(reader.read(65536), timeout=1)
            except asyncio.TimeoutError:
                continue
            if not chunk:
                stats["closed"] += 1
                return
            stats["bytes"] += len(chunk)
            stats["messages"] += chunk.count(b"\n\n")
    finally:
        writer.close()

async def main(port, run, n, duration):
    stats = {"open": 0, "closed": 0, "bytes": 0, "messages": 0}
    stop = asyncio.Event()
    tasks = [asyncio.create_task(client(port, run, stats, stop)) for _ in range(n)]
    await asyncio.sleep(duration)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(f"streams opened {stats['open']}, closed by the server early {stats['closed']}, "
          f"messages {stats['messages']}, bytes {stats['bytes']}")

asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
