"""The message bus: RPC call/cast/fanout between components, and notifications.

Components address each other by topic (``scheduler``, ``compute``,
``dhcp_agent``); a server listens on ``topic`` and ``topic.<server>`` (for
example ``compute.node1``). Arguments and results travel as JSON, whatever
the transport, so code that works on ``memory://`` works on ``rabbit://``.

- ``await bus.call(topic, method, **kw)`` -> the endpoint's return value;
  raises :class:`RemoteError` if the endpoint raised, :class:`NoListener` if
  nobody serves the topic, ``TimeoutError`` after ``timeout`` seconds.
- ``await bus.cast(topic, method, **kw)`` -> None; one listener runs it later.
- ``await bus.fanout(topic, method, **kw)`` -> None; every listener runs it.
- ``await bus.notify(event_type, payload)`` -> None; every subscriber whose
  prefix matches gets ``(event_type, payload)``.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import defaultdict
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[str, dict], Awaitable[None]]


class RemoteError(Exception):
    """An RPC endpoint raised; ``kind`` is its exception class name."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message


class NoListener(Exception):
    """Nobody listens on the topic."""


def _roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))


class MemoryBus:
    """In-process transport (``memory://``): one event loop, no broker."""

    def __init__(self) -> None:
        self._servers: dict[str, list[object]] = defaultdict(list)
        self._rr = itertools.count()
        self._subscribers: list[tuple[str, Subscriber]] = []
        self._tasks: set[asyncio.Task] = set()

    async def serve(self, topic: str, endpoint: object, server: str | None = None) -> None:
        """Route ``topic`` (and ``topic.server``) messages to ``endpoint``'s async methods."""
        self._servers[topic].append(endpoint)
        if server:
            self._servers[f"{topic}.{server}"].append(endpoint)

    async def unserve(self, endpoint: object) -> None:
        for listeners in self._servers.values():
            if endpoint in listeners:
                listeners.remove(endpoint)

    def _pick(self, topic: str) -> object:
        listeners = self._servers.get(topic) or []
        if not listeners:
            raise NoListener(f"no listener on topic {topic!r}")
        return listeners[next(self._rr) % len(listeners)]

    @staticmethod
    async def _invoke(endpoint: object, method: str, kwargs: dict) -> Any:
        fn = getattr(endpoint, method, None)
        if fn is None or method.startswith("_"):
            raise RemoteError("UnknownMethod", f"{type(endpoint).__name__} has no method {method!r}")
        try:
            return _roundtrip(await fn(**kwargs))
        except RemoteError:
            raise
        except Exception as e:  # the caller sees the remote failure, as over a broker
            raise RemoteError(type(e).__name__, str(e)) from e

    def _spawn(self, coro: Awaitable, what: str) -> None:
        async def run():
            try:
                await coro
            except Exception:
                log.exception("bus: %s failed", what)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def call(self, topic: str, method: str, timeout: float = 60, **kwargs: Any) -> Any:
        kwargs = _roundtrip(kwargs)
        endpoint = self._pick(topic)
        return await asyncio.wait_for(self._invoke(endpoint, method, kwargs), timeout)

    async def cast(self, topic: str, method: str, **kwargs: Any) -> None:
        kwargs = _roundtrip(kwargs)
        endpoint = self._pick(topic)
        self._spawn(self._invoke(endpoint, method, kwargs), f"cast {topic}.{method}")

    async def fanout(self, topic: str, method: str, **kwargs: Any) -> None:
        kwargs = _roundtrip(kwargs)
        for endpoint in list(self._servers.get(topic) or []):
            self._spawn(self._invoke(endpoint, method, _roundtrip(kwargs)), f"fanout {topic}.{method}")

    def subscribe(self, prefix: str, callback: Subscriber) -> None:
        """Receive notifications whose event_type starts with ``prefix``."""
        self._subscribers.append((prefix, callback))

    async def notify(self, event_type: str, payload: dict) -> None:
        body = _roundtrip(payload)
        for prefix, callback in list(self._subscribers):
            if event_type.startswith(prefix):
                self._spawn(callback(event_type, body), f"notification {event_type}")

    async def drain(self) -> None:
        """Wait for every cast, fanout and notification in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def connect(url: str) -> MemoryBus:
    """A bus for ``url``. Only ``memory://`` exists so far; ``rabbit://`` comes with multi-node."""
    if url.startswith("memory://"):
        return MemoryBus()
    raise ValueError(f"unsupported bus transport: {url!r} (supported: memory://)")
