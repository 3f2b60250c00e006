"""WebSocket echo load, run as its own process: N connections, one message in flight each.

Prints ``READY`` once every connection is open, then one JSON line with the message
count, errors and round-trip percentiles. Compression is off so that the figure is the
server's framing and scheduling, not zlib's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any


async def _main(port: int, connections: int, duration: float, size: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws"
    sockets = [await connect(url, compression=None, max_size=None, ping_interval=None)
               for _ in range(connections)]
    print("READY", flush=True)
    payload = "x" * size
    latencies: list[float] = []
    errors = 0
    start = time.monotonic()
    deadline = start + duration

    async def worker(ws: Any) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            try:
                await ws.send(payload)
                reply = await asyncio.wait_for(ws.recv(), 10)
            except Exception:  # any failure ends this connection's part of the run
                errors += 1
                return
            latencies.append(time.perf_counter() - sent)
            if reply != payload:
                errors += 1

    await asyncio.gather(*(worker(ws) for ws in sockets))
    elapsed = time.monotonic() - start
    for ws in sockets:
        await ws.close()
    ordered = sorted(latencies) or [0.0]
    return {
        "messages": len(latencies), "duration": elapsed, "errors": errors,
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        result = loop.run_until_complete(
            _main(args.port, args.connections, args.duration, args.size))
    finally:
        loop.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
