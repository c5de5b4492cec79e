"""A bare load generator: the ceiling a client can get out of a server.

It replays a list of request bodies (by default the ones a pipeline run sent, fetched from
the simulated server's `/requests`) with `concurrency` workers, each on its own keep-alive
connection, and nothing else: no parsing beyond the HTTP framing, no client library. So it
measures what the server gives for exactly the work the pipeline asked of it.

    python -m benchmarks.load_generator --url http://127.0.0.1:PORT/v1 --concurrency 64 \
        --requests requests.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit


async def _worker(host: str, port: int, base: str, queue: list[bytes], done: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while queue:
            body = queue.pop()
            path = f"{base}/chat/completions" if b'"messages"' in body else f"{base}/completions"
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
            done[0] += 1
    finally:
        writer.close()


async def replay(url: str, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    """Sends every body once with `concurrency` requests in flight; returns requests/s."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    queue = list(reversed(bodies))
    done = [0]
    base = parts.path.rstrip("/")
    started = time.monotonic()
    await asyncio.gather(
        *(_worker(host, port, base, queue, done) for _ in range(min(concurrency, len(bodies))))
    )
    elapsed = time.monotonic() - started
    return {
        "requests": done[0],
        "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(done[0] / elapsed, 3) if elapsed else 0.0,
    }


def encode_bodies(bodies: list[Any]) -> list[bytes]:
    return [json.dumps(body).encode() for body in bodies]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_generator")
    parser.add_argument("--url", required=True, help="the server's base URL (…/v1)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", required=True, help="a JSON list of request bodies")
    args = parser.parse_args(argv)
    with open(args.requests, encoding="utf-8") as handle:
        bodies = encode_bodies(json.load(handle))
    print(json.dumps(asyncio.run(replay(args.url, bodies, args.concurrency))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
