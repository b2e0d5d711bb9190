"""An HTTP/1.1 server with a known capacity, for `kaioken capacity` tests.

`--workers N --service-ms S`: N workers each serve one request at a time in exactly S ms of
(virtual) service time, first come first served. Each request takes the worker that frees up
first; it completes at max(arrival, that worker's free time) + S. Completions are scheduled on
that exact timeline, so the capacity is N / S requests per second whatever the event loop's
own overhead (as long as it stays below S per request), and a backlog grows by exactly
(rate - capacity) per second above it.

Prints `port <n>` and `ready` on stdout once listening. `GET /__stats` answers
`{"served": n, "max_backlog_ms": m}` outside the queue.
"""

import argparse
import asyncio
import json
import sys


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--service-ms", type=float, default=5.0)
    args = ap.parse_args()
    service = args.service_ms / 1000.0
    loop = asyncio.get_running_loop()
    free = [0.0] * args.workers
    stats = {"served": 0, "max_backlog_ms": 0.0}

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
                length = 0
                # HTTP/1.0 closes after the answer unless asked to keep alive; 1.1 the other
                # way round.
                close = lines[0].endswith("HTTP/1.0")
                for line in lines[1:]:
                    low = line.lower()
                    if low.startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                    elif low.startswith("connection:"):
                        close = "close" in low
                if length:
                    await reader.readexactly(length)
                if path == "/__stats":
                    body = json.dumps(stats).encode()
                else:
                    now = loop.time()
                    i = min(range(len(free)), key=free.__getitem__)
                    start = max(now, free[i])
                    done = start + service
                    free[i] = done
                    stats["max_backlog_ms"] = max(stats["max_backlog_ms"], (start - now) * 1000.0)
                    await asyncio.sleep(max(0.0, done - loop.time()))
                    stats["served"] += 1
                    body = b"ok"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
