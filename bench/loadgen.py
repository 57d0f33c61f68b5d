"""A small closed-loop HTTP load generator for the benchmarks.

``N`` asyncio workers each keep one HTTP/1.1 connection (reopened when the
server closes it) and send the same request again and again until a time
limit or a request count is reached. Requests are pre-encoded bytes and
responses are parsed just enough to find their end (Content-Length,
chunked, or close), so the generator costs far less CPU than the servers it
measures; that matters on a 2-core machine where both share the CPUs.

:func:`run_cell` returns a :class:`Cell`: requests, errors, seconds,
requests/s and latency percentiles in milliseconds.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


def encode(method: str, host: str, port: int, path: str, headers: dict[str, str] | None = None,
           body: dict | None = None) -> bytes:
    """An HTTP/1.1 request as bytes (``body`` sent as JSON)."""
    data = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/json",
             "Connection: keep-alive"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


class Connection:
    """One keep-alive connection; ``request`` returns ``(status, headers, body)``."""

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self._open()
        self.writer.write(raw)
        try:
            status_line = await self.reader.readline()
            if not status_line:  # the server closed an idle keep-alive connection
                raise ConnectionResetError("closed")
        except ConnectionError:
            self.close()
            await self._open()
            self.writer.write(raw)
            status_line = await self.reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readline()).split(b";")[0], 16)
            if size == 0:
                await self.reader.readline()
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()


@dataclass
class Cell:
    """One measurement: ``concurrency`` workers for at most ``seconds`` or ``requests``."""

    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    first_error: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def run_cell(host: str, port: int, raw: bytes, *, expect: int, concurrency: int,
                   seconds: float, max_requests: int, warmup: int = 0,
                   on_start: Callable[[], None] | None = None) -> Cell:
    """Send ``raw`` from ``concurrency`` workers; a status other than ``expect`` is an error.

    Stops at ``seconds`` or after ``max_requests`` requests, whichever
    comes first; ``warmup`` requests per worker go first and are not counted.
    ``on_start()`` runs when the clock starts (after the warm-up).
    """
    latencies: list[float] = []
    errors: list[str] = []
    budget = [max_requests]
    ready = [0]

    async def worker() -> None:
        conn = Connection(host, port)
        try:
            for _ in range(warmup):
                await conn.request(raw)
            ready[0] += 1
            await start.wait()
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                t0 = time.perf_counter()
                try:
                    status, _, body = await conn.request(raw)
                except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                    conn.close()
                    errors.append(f"{type(e).__name__}: {e}")
                    continue
                latencies.append(time.perf_counter() - t0)
                if status != expect:
                    errors.append(f"HTTP {status}: {body[:200].decode(errors='replace')}")
        finally:
            conn.close()

    start = asyncio.Event()
    deadline = float("inf")
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    # The clock starts once every worker is through its warm-up (or has failed).
    while ready[0] + sum(t.done() for t in tasks) < concurrency:
        await asyncio.sleep(0.005)
    if on_start is not None:
        on_start()
    t_start = time.perf_counter()
    deadline = t_start + seconds
    start.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t_start
    ok = sorted(latencies)
    return Cell(concurrency=concurrency, requests=len(latencies), errors=len(errors), seconds=round(elapsed, 2),
                rps=round(len(latencies) / elapsed, 1) if elapsed else 0.0,
                p50_ms=round(percentile(ok, 0.50) * 1000, 2), p99_ms=round(percentile(ok, 0.99) * 1000, 2),
                first_error=errors[0] if errors else None)

