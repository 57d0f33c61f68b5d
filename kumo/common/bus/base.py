"""What every bus transport shares: the errors, JSON encoding and endpoint dispatch.

A transport moves *requests* ``{"method": str, "args": {name: JSON}}`` to an
endpoint object and, for calls, brings back a *reply*: ``{"result": JSON}`` or
``{"error": {"kind": str, "message": str}}``. :func:`invoke` runs one request
against an endpoint the same way on every transport, so ``memory://`` and
``rabbit://`` fail in the same ways.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

log = logging.getLogger("kumo.common.bus")

#: ``async def callback(event_type: str, payload: dict) -> None``
Subscriber = Callable[[str, dict], Awaitable[None]]


class RemoteError(Exception):
    """An RPC endpoint raised; ``kind`` is its exception class name, ``message`` its text."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message


class NoListener(Exception):
    """Nobody listens on the topic."""


def roundtrip(value: Any) -> Any:
    """``value`` as the receiver sees it after JSON; ``TypeError`` if it is not JSON."""
    return json.loads(json.dumps(value))


async def invoke(endpoint: object, method: str, kwargs: dict) -> Any:
    """Run ``endpoint.method(**kwargs)`` and return its result as JSON data.

    Raises :class:`RemoteError`: ``UnknownMethod`` for a missing or private
    (``_``-prefixed) method, otherwise the endpoint's exception class name and
    text (a :class:`RemoteError` the endpoint raised passes through unchanged;
    a result that is not JSON gives ``TypeError``).
    """
    fn = getattr(endpoint, method, None) if isinstance(method, str) else None
    if fn is None or not callable(fn) or method.startswith("_"):
        raise RemoteError("UnknownMethod", f"{type(endpoint).__name__} has no method {method!r}")
    try:
        return roundtrip(await fn(**kwargs))
    except RemoteError:
        raise
    except Exception as e:  # the caller sees the remote failure, as over a broker
        raise RemoteError(type(e).__name__, str(e)) from e


def encode_request(method: str, kwargs: dict) -> bytes:
    """The wire form of a request; ``TypeError`` (at the caller) if an argument is not JSON."""
    return json.dumps({"method": method, "args": kwargs}).encode()


def decode_request(body: bytes) -> tuple[str, dict]:
    """``(method, args)`` of a request; :class:`RemoteError` ``BadRequest`` if malformed."""
    try:
        data = json.loads(body)
        method, args = data["method"], data.get("args") or {}
        if not isinstance(method, str) or not isinstance(args, dict):
            raise ValueError("method must be a string and args an object")
    except (ValueError, KeyError, TypeError) as e:
        raise RemoteError("BadRequest", f"malformed bus request: {e}") from e
    return method, args


def encode_reply(result: Any = None, error: RemoteError | None = None) -> bytes:
    """The wire form of a reply: the result, or the error's kind and message."""
    if error is not None:
        return json.dumps({"error": {"kind": error.kind, "message": error.message}}).encode()
    return json.dumps({"result": result}).encode()


def decode_reply(body: bytes) -> Any:
    """The result carried by a reply; raises the :class:`RemoteError` it carries instead."""
    try:
        data = json.loads(body)
    except ValueError as e:
        raise RemoteError("BadReply", f"malformed bus reply: {e}") from e
    if not isinstance(data, dict):
        raise RemoteError("BadReply", "malformed bus reply: not an object")
    if "error" in data:
        err = data["error"] or {}
        raise RemoteError(str(err.get("kind", "RemoteError")), str(err.get("message", "")))
    return data.get("result")


def binding_key(prefix: str) -> str:
    """The topic-exchange binding key that covers every event type starting with ``prefix``.

    ``"compute.instance."`` -> ``"compute.instance.#"``; a prefix ending in a
    partial word binds its whole parent (``"compute.inst"`` -> ``"compute.#"``),
    and ``""`` binds ``"#"``. Binding is coarse where words are cut, so
    receivers still filter on ``event_type.startswith(prefix)``.
    """
    head, dot, _ = prefix.rpartition(".")
    return f"{head}.#" if dot else "#"


class TaskSet:
    """Background work a bus runs (casts, fanouts, notifications): failures are logged."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def __iter__(self):
        return iter(list(self._tasks))

    def spawn(self, coro: Awaitable, what: str) -> None:
        async def run():
            try:
                await coro
            except Exception:
                log.exception("bus: %s failed", what)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until nothing runs (work spawned meanwhile included)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
