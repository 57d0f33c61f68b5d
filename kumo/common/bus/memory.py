"""The in-process transport (``memory://``): one event loop, no broker."""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections import defaultdict
from typing import Any

from kumo.common.bus.base import NoListener, Subscriber, TaskSet, invoke, roundtrip

log = logging.getLogger(__name__)


class MemoryBus:
    """In-process transport (``memory://``): one event loop, no broker."""

    def __init__(self) -> None:
        self._servers: dict[str, list[object]] = defaultdict(list)
        self._rr = itertools.count()
        self._subscribers: list[tuple[str, Subscriber]] = []
        self._tasks = TaskSet()

    async def start(self) -> None:
        """Nothing to prepare in-process (the rabbit transport connects here)."""

    async def serve(self, topic: str, endpoint: object, server: str | None = None) -> None:
        """Route ``topic`` (and ``topic.server``) messages to ``endpoint``'s async methods."""
        self._servers[topic].append(endpoint)
        if server:
            self._servers[f"{topic}.{server}"].append(endpoint)

    async def unserve(self, endpoint: object) -> None:
        """Stop routing messages to ``endpoint`` (on every topic it served)."""
        for listeners in self._servers.values():
            if endpoint in listeners:
                listeners.remove(endpoint)

    def _pick(self, topic: str) -> object:
        listeners = self._servers.get(topic) or []
        if not listeners:
            raise NoListener(f"no listener on topic {topic!r}")
        return listeners[next(self._rr) % len(listeners)]


    async def call(self, topic: str, method: str, /, timeout: float = 60,
                   **kwargs: Any) -> Any:
        """Run ``method`` on one listener of ``topic`` and return its JSON result."""
        kwargs = roundtrip(kwargs)
        endpoint = self._pick(topic)
        return await asyncio.wait_for(invoke(endpoint, method, kwargs), timeout)

    async def cast(self, topic: str, method: str, /, **kwargs: Any) -> None:
        """Have one listener of ``topic`` run ``method`` later."""
        kwargs = roundtrip(kwargs)
        endpoint = self._pick(topic)
        self._tasks.spawn(invoke(endpoint, method, kwargs), f"cast {topic}.{method}")

    async def fanout(self, topic: str, method: str, /, **kwargs: Any) -> None:
        """Have every listener of ``topic`` run ``method`` later."""
        kwargs = roundtrip(kwargs)
        for endpoint in list(self._servers.get(topic) or []):
            self._tasks.spawn(invoke(endpoint, method, roundtrip(kwargs)), f"fanout {topic}.{method}")

    def subscribe(self, prefix: str, callback: Subscriber) -> None:
        """Receive notifications whose event_type starts with ``prefix``."""
        self._subscribers.append((prefix, callback))

    async def notify(self, event_type: str, payload: dict) -> None:
        """Send ``(event_type, payload)`` to every subscriber whose prefix matches."""
        body = roundtrip(payload)
        for prefix, callback in list(self._subscribers):
            if event_type.startswith(prefix):
                self._tasks.spawn(callback(event_type, body), f"notification {event_type}")

    async def drain(self) -> None:
        """Wait for every cast, fanout and notification in flight (tests, shutdown)."""
        await self._tasks.drain()

    async def close(self) -> None:
        """Cancel whatever is still in flight."""
        await self._tasks.cancel()
