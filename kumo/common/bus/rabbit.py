"""The RabbitMQ transport (``rabbit://user:pass@host:5672/vhost``), over AMQP 0-9-1 with aio-pika.

Topology (everything non-durable: the bus carries live work, not records):

- exchange ``kumo`` (topic) for RPC. Serving ``topic`` (and ``topic.server``)
  consumes the queue ``kumo.<topic>`` (``kumo.<topic>.<server>``) bound with that
  routing key. The queue is shared by every server of the topic, so calls and
  casts go round-robin; it is auto-deleted with its last consumer, so a call or
  cast nobody serves comes back unroutable (mandatory publishing) and raises
  :class:`NoListener` at once.
- exchange ``kumo.fanout.<topic>`` (fanout) per topic: each served endpoint has
  its own exclusive queue bound to it, so a fanout reaches every listener.
- RPC replies: each bus has an exclusive queue ``kumo.reply.<uuid>``; a call
  sends ``reply_to`` and a ``correlation_id`` and waits for the matching reply
  (the request expires in the queue after the call's timeout).
- exchange ``kumo-notifications`` (topic), routing key = event type.
  ``subscribe("compute.instance.", cb)`` binds its own queue with
  ``compute.instance.#`` (see :func:`~kumo.common.bus.base.binding_key`).

The connection is opened on first use (or by :meth:`RabbitBus.start`) and is
robust: after a broker restart or a dropped connection aio-pika reconnects and
re-declares the queues, bindings and consumers. Calls in flight during an outage
end in ``TimeoutError``; publishing waits for the reconnection at most
``publish_timeout`` seconds. Delivery is at most once (as with ``memory://``).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from aio_pika.connection import make_url
from aio_pika.exceptions import ChannelInvalidStateError, ChannelNotFoundEntity, PublishError

from kumo.common.bus.base import (
    NoListener,
    TaskSet,
    RemoteError,
    Subscriber,
    binding_key,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
    invoke,
)
from kumo.common.bus.url import parse_rabbit_url

log = logging.getLogger(__name__)

RPC_EXCHANGE = "kumo"
NOTIFY_EXCHANGE = "kumo-notifications"
#: A served queue that never got its consumer (a failed ``serve``) is dropped after this long.
_QUEUE_ARGS = {"x-expires": 60_000}


def fanout_exchange(topic: str) -> str:
    """Name of the fanout exchange of ``topic``."""
    return f"{RPC_EXCHANGE}.fanout.{topic}"


def topic_queue(topic: str) -> str:
    """Name of the shared queue that the servers of ``topic`` consume."""
    return f"{RPC_EXCHANGE}.{topic}"


class RabbitBus:
    """The bus over a RabbitMQ broker; same API and semantics as :class:`MemoryBus`.

    ``url`` is ``rabbit://user:pass@host:port/vhost`` (``rabbits://`` for TLS;
    query options such as ``heartbeat=30`` go to the AMQP connection). Waits are
    bounded: ``connect_timeout`` for connecting and declaring queues,
    ``publish_timeout`` for a cast, fanout or notification to be accepted by the
    broker (``TimeoutError`` after), and each call's own ``timeout``. A broker
    that cannot be reached raises ``ConnectionError``.
    """

    def __init__(self, url: str, *, connect_timeout: float = 30, publish_timeout: float = 30,
                 reconnect_interval: float = 1) -> None:
        self.params = parse_rabbit_url(url)
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self.reconnect_interval = reconnect_interval
        self._lock = asyncio.Lock()
        self._conn: aio_pika.RobustConnection | None = None
        self._pub: AbstractChannel | None = None      # publishing: confirms + returns
        self._listen: AbstractChannel | None = None   # reply and notification queues
        self._rpc: AbstractExchange | None = None
        self._events: AbstractExchange | None = None
        self._fanouts: dict[str, AbstractExchange] = {}
        self._reply_queue = f"kumo.reply.{uuid.uuid4().hex}"
        self._replies: dict[str, asyncio.Future] = {}
        #: (endpoint, its channel, names of the shared queues it consumes)
        self._served: list[tuple[object, AbstractChannel, list[str]]] = []
        self._unbound: list[tuple[str, Subscriber]] = []
        self._tasks = TaskSet()
        self._setup: set[asyncio.Task] = set()
        #: How many times the connection was re-established after a loss (status, tests).
        self.reconnects = 0

    def __repr__(self) -> str:
        return f"<RabbitBus {self.params.redacted()}>"

    # -- connection ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect now (instead of on first use) and bind pending subscriptions.

        Raises ``ConnectionError`` if the broker cannot be reached in ``connect_timeout``.
        """
        await self._ready()

    async def _ready(self) -> None:
        if self._conn is not None and not self._unbound:
            return
        async with self._lock:
            if self._conn is None:
                await self._connect()
            while self._unbound:
                prefix, callback = self._unbound[0]
                await self._bind_subscriber(prefix, callback)
                self._unbound.pop(0)

    async def _connect(self) -> None:
        p = self.params
        options = {"reconnect_interval": str(self.reconnect_interval), **p.options}
        url = make_url(None, host=p.host, port=p.port, login=p.login, password=p.password,
                       virtualhost=p.virtualhost, ssl=p.ssl, **options)
        name = f"kumo {socket.gethostname()} pid {os.getpid()}"
        conn = aio_pika.RobustConnection(url, client_properties={"connection_name": name})
        try:
            async with asyncio.timeout(self.connect_timeout):
                await conn.connect(timeout=self.connect_timeout)
                pub = await conn.channel(publisher_confirms=True, on_return_raises=True)
                rpc = await pub.declare_exchange(RPC_EXCHANGE, aio_pika.ExchangeType.TOPIC)
                events = await pub.declare_exchange(NOTIFY_EXCHANGE, aio_pika.ExchangeType.TOPIC)
                listen = await conn.channel(publisher_confirms=False)
                await listen.declare_exchange(NOTIFY_EXCHANGE, aio_pika.ExchangeType.TOPIC)
                replies = await listen.declare_queue(self._reply_queue, exclusive=True,
                                                     auto_delete=True)
                await replies.consume(self._on_reply, no_ack=True)
        except BaseException as e:
            await self._close_quietly(conn)
            if isinstance(e, Exception):
                raise ConnectionError(f"bus: cannot use {p.redacted()}: "
                                      f"{type(e).__name__}: {e}") from e
            raise
        conn.reconnect_callbacks.add(self._on_reconnect)
        self._conn, self._pub, self._listen, self._rpc, self._events = conn, pub, listen, rpc, events

    def _on_reconnect(self, *_: Any) -> None:
        self.reconnects += 1
        log.info("bus: reconnected to %s", self.params.redacted())

    async def _close_quietly(self, closable: Any) -> None:
        try:
            await asyncio.wait_for(closable.close(), 10)
        except Exception as e:  # closing what is broken anyway; never mask the real error
            log.debug("bus: close of %r failed: %s", closable, e)

    # -- serving ------------------------------------------------------------------------------

    async def serve(self, topic: str, endpoint: object, server: str | None = None) -> None:
        """Route ``topic`` (and ``topic.server``) messages to ``endpoint``'s async methods.

        Raises ``ConnectionError`` if the broker cannot be reached.
        """
        await self._ready()
        keys = [topic] + ([f"{topic}.{server}"] if server else [])
        for attempt in range(3):
            channel = None
            try:
                async with asyncio.timeout(self.connect_timeout):
                    channel = await self._conn.channel(publisher_confirms=False)
                    await self._declare_server(channel, keys, endpoint)
            except BaseException as e:
                if channel is not None:
                    await self._close_quietly(channel)
                if isinstance(e, ChannelNotFoundEntity) and attempt < 2:
                    # The shared queue was auto-deleted (its last server left) between our
                    # declare and bind/consume: declare it again on a fresh channel.
                    continue
                raise
            self._served.append((endpoint, channel, [topic_queue(key) for key in keys]))
            return

    async def _declare_server(self, channel: AbstractChannel, keys: list[str],
                              endpoint: object) -> None:
        handler = partial(self._on_request, endpoint)
        rpc = await channel.declare_exchange(RPC_EXCHANGE, aio_pika.ExchangeType.TOPIC)
        for key in keys:
            queue = await channel.declare_queue(topic_queue(key), auto_delete=True,
                                                arguments=_QUEUE_ARGS)
            await queue.bind(rpc, key)
            await queue.consume(handler, no_ack=True)
        mine = await channel.declare_queue(f"{fanout_exchange(keys[0])}.{uuid.uuid4().hex}",
                                           exclusive=True, auto_delete=True)
        for key in keys:
            exchange = await channel.declare_exchange(fanout_exchange(key),
                                                      aio_pika.ExchangeType.FANOUT)
            await mine.bind(exchange)
        await mine.consume(handler, no_ack=True)

    async def unserve(self, endpoint: object) -> None:
        """Stop consuming for ``endpoint`` on every topic it served.

        A shared queue left without consumers is deleted before this returns, so
        a call right after it raises :class:`NoListener` rather than waiting.
        """
        keep = []
        for served, channel, queues in self._served:
            if served is not endpoint:
                keep.append((served, channel, queues))
                continue
            await self._close_quietly(channel)  # cancels its consumers
            for name in queues:
                await self._delete_if_unused(name)
        self._served = keep

    async def _delete_if_unused(self, name: str) -> None:
        # On a throwaway, non-robust channel: "in use" (another server still consumes)
        # closes the channel, and it must not be reopened.
        try:
            async with asyncio.timeout(self.connect_timeout):
                channel = aio_pika.Channel(self._conn, publisher_confirms=False)
                await channel.initialize()
        except Exception as e:
            log.debug("bus: no channel to delete %s: %s", name, e)
            return
        try:
            async with asyncio.timeout(self.connect_timeout):
                await channel.queue_delete(name, if_unused=True)
        except Exception as e:
            log.debug("bus: queue %s kept: %s", name, e)
        finally:
            await self._close_quietly(channel)

    async def _on_request(self, endpoint: object, message: AbstractIncomingMessage) -> None:
        self._tasks.spawn(self._handle(endpoint, message.body, message.reply_to, message.correlation_id),
                    f"request to {type(endpoint).__name__}")

    async def _handle(self, endpoint: object, body: bytes, reply_to: str | None,
                      correlation_id: str | None) -> None:
        method = "?"
        try:
            method, args = decode_request(body)
            reply = encode_reply(await invoke(endpoint, method, args))
        except RemoteError as e:
            if not reply_to:
                log.error("bus: %s.%s failed: %s", type(endpoint).__name__, method, e,
                          exc_info=e.__cause__)
                return
            reply = encode_reply(error=e)
        if reply_to:
            message = aio_pika.Message(reply, correlation_id=correlation_id,
                                       content_type="application/json")
            async with asyncio.timeout(self.publish_timeout):
                await self._pub.default_exchange.publish(message, reply_to, mandatory=False)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._replies.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message.body)

    # -- sending ------------------------------------------------------------------------------

    async def _publish(self, exchange: AbstractExchange, routing_key: str, body: bytes,
                       mandatory: bool, **properties: Any) -> None:
        message = aio_pika.Message(body, content_type="application/json", **properties)
        async with asyncio.timeout(self.publish_timeout):
            for attempt in (1, 2):
                try:
                    await exchange.publish(message, routing_key, mandatory=mandatory)
                    return
                except PublishError:
                    raise NoListener(f"no listener on topic {routing_key!r}") from None
                except ChannelInvalidStateError:
                    # The channel was closed before sending (the connection is being
                    # restored): wait for it and send once more.
                    if attempt == 2:
                        raise
                    await self._pub.ready()

    async def call(self, topic: str, method: str, /, timeout: float = 60,
                   **kwargs: Any) -> Any:
        """Run ``method(**kwargs)`` on one server of ``topic``; its JSON result.

        Raises :class:`RemoteError` (the endpoint raised), :class:`NoListener`
        (nobody serves ``topic``), ``TimeoutError`` (no reply in ``timeout``
        seconds), ``TypeError`` (an argument is not JSON).
        """
        body = encode_request(method, kwargs)
        correlation_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self._replies[correlation_id] = future
        try:
            async with asyncio.timeout(timeout):
                await self._ready()
                await self._publish(self._rpc, topic, body, True, correlation_id=correlation_id,
                                    reply_to=self._reply_queue,
                                    expiration=timedelta(seconds=max(timeout, 0.001)))
                reply = await future
        finally:
            self._replies.pop(correlation_id, None)
        return decode_reply(reply)

    async def cast(self, topic: str, method: str, /, **kwargs: Any) -> None:
        """Have one server of ``topic`` run ``method(**kwargs)``; returns once the broker has it.

        Raises :class:`NoListener` (nobody serves ``topic``), ``TypeError`` (not JSON).
        """
        body = encode_request(method, kwargs)
        await self._ready()
        await self._publish(self._rpc, topic, body, True)

    async def fanout(self, topic: str, method: str, /, **kwargs: Any) -> None:
        """Have every server of ``topic`` run ``method(**kwargs)`` (none: nothing happens)."""
        body = encode_request(method, kwargs)
        await self._ready()
        exchange = self._fanouts.get(topic)
        if exchange is None:
            async with asyncio.timeout(self.connect_timeout):
                exchange = await self._pub.declare_exchange(fanout_exchange(topic),
                                                            aio_pika.ExchangeType.FANOUT)
            self._fanouts[topic] = exchange
        await self._publish(exchange, topic, body, False)

    # -- notifications ------------------------------------------------------------------------

    def subscribe(self, prefix: str, callback: Subscriber) -> None:
        """Receive notifications whose event_type starts with ``prefix``.

        The binding is made in the background (or by the next bus operation of
        this bus, which waits for it); ``await bus.drain()`` also waits for it.
        """
        self._unbound.append((prefix, callback))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # bound by start() or the first operation
        task = loop.create_task(self._ready())
        self._setup.add(task)
        task.add_done_callback(self._setup_done)

    def _setup_done(self, task: asyncio.Task) -> None:
        self._setup.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("bus: subscription failed (retried on next use): %s", task.exception())

    async def _bind_subscriber(self, prefix: str, callback: Subscriber) -> None:
        async with asyncio.timeout(self.connect_timeout):
            queue = await self._listen.declare_queue(f"kumo.notify.{uuid.uuid4().hex}",
                                                     exclusive=True, auto_delete=True)
            await queue.bind(NOTIFY_EXCHANGE, binding_key(prefix))
            await queue.consume(partial(self._on_notification, prefix, callback), no_ack=True)

    async def _on_notification(self, prefix: str, callback: Subscriber,
                               message: AbstractIncomingMessage) -> None:
        event_type = message.routing_key or ""
        if not event_type.startswith(prefix):
            return
        try:
            payload = json.loads(message.body)
        except ValueError as e:
            log.error("bus: malformed notification %s: %s", event_type, e)
            return
        self._tasks.spawn(callback(event_type, payload), f"notification {event_type}")

    async def notify(self, event_type: str, payload: dict) -> None:
        """Send ``(event_type, payload)`` to every subscriber whose prefix matches.

        Raises ``TypeError`` if ``payload`` is not JSON.
        """
        body = json.dumps(payload).encode()
        await self._ready()
        await self._publish(self._events, event_type, body, False)

    # -- lifecycle ----------------------------------------------------------------------------


    async def drain(self) -> None:
        """Wait for pending subscriptions and for the requests and notifications this bus
        is handling. (Messages still on their way through the broker are not seen.)"""
        if self._setup:
            await asyncio.gather(*list(self._setup), return_exceptions=True)
        if self._unbound and self._conn is not None:
            await self._ready()
        await self._tasks.drain()

    async def close(self) -> None:
        """Cancel work in flight, stop serving, close the connection. The bus may be used
        again afterwards: it reconnects, without the old listeners and subscriptions."""
        for task in list(self._setup):
            task.cancel()
        await asyncio.gather(*list(self._setup), return_exceptions=True)
        await self._tasks.cancel()
        for future in self._replies.values():
            if not future.done():
                future.set_exception(ConnectionError("bus closed"))
        conn = self._conn
        self._conn = self._pub = self._listen = self._rpc = self._events = None
        self._fanouts.clear()
        self._served.clear()
        self._unbound.clear()
        if conn is not None:
            await self._close_quietly(conn)
