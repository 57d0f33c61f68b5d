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
- ``await bus.start()`` connects now (optional: transports connect on first use).

``topic`` and ``method`` are positional-only, so endpoint arguments may use those
names (``service_heartbeat(host, binary, topic)``); ``timeout`` belongs to ``call``.

Transports: :class:`MemoryBus` (``memory://``, one process) and
:class:`~kumo.common.bus.rabbit.RabbitBus` (``rabbit://user:pass@host:5672/vhost``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kumo.common.bus.base import NoListener, RemoteError, Subscriber
from kumo.common.bus.memory import MemoryBus

if TYPE_CHECKING:
    from kumo.common.bus.rabbit import RabbitBus

__all__ = ["MemoryBus", "NoListener", "RabbitBus", "RemoteError", "Subscriber", "connect"]


def __getattr__(name: str) -> Any:
    # RabbitBus imports aio-pika: only load it when someone asks for it.
    if name == "RabbitBus":
        from kumo.common.bus.rabbit import RabbitBus
        return RabbitBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def connect(url: str) -> "MemoryBus | RabbitBus":
    """A bus for ``url``: ``memory://`` or ``rabbit://`` / ``rabbits://`` (connects on first use).

    Raises ``ValueError`` for another transport or a malformed rabbit URL.
    """
    if url.startswith("memory://"):
        return MemoryBus()
    if url.startswith(("rabbit://", "rabbits://")):
        from kumo.common.bus.rabbit import RabbitBus
        return RabbitBus(url)
    raise ValueError(f"unsupported bus transport: {url!r} (supported: memory://, rabbit://)")
