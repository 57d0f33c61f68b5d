"""The bus pieces that need no broker: URLs, wire format, binding keys, transport choice."""
from __future__ import annotations

import socket

import pytest

from kumo.common import bus as bus_pkg
from kumo.common.bus import MemoryBus, NoListener, RabbitBus, RemoteError, connect
from kumo.common.bus.base import (
    binding_key,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
    invoke,
)
from kumo.common.bus.url import parse_rabbit_url


def test_rabbit_url_fields():
    p = parse_rabbit_url("rabbit://kumo:s3cret@mq.example:5673/cloud")
    assert (p.host, p.port, p.login, p.password, p.virtualhost, p.ssl) == (
        "mq.example", 5673, "kumo", "s3cret", "cloud", False)
    assert "s3cret" not in p.redacted() and "mq.example:5673/cloud" in p.redacted()


def test_rabbit_url_defaults_and_decoding():
    p = parse_rabbit_url("rabbit://mq")
    assert (p.host, p.port, p.login, p.password, p.virtualhost) == ("mq", 5672, "guest", "guest", "/")
    assert parse_rabbit_url("rabbit://u:p@mq:5672/").virtualhost == "/"
    assert parse_rabbit_url("rabbit://u:p@mq/%2F").virtualhost == "/"
    p = parse_rabbit_url("rabbit://us%40er:p%3Aw%2Fd@mq/v%20h?heartbeat=30")
    assert (p.login, p.password, p.virtualhost) == ("us@er", "p:w/d", "v h")
    assert p.options == {"heartbeat": "30"}
    tls = parse_rabbit_url("rabbits://u:p@mq/v")
    assert tls.ssl and tls.port == 5671


@pytest.mark.parametrize("url", [
    "amqp://u:p@mq/v", "rabbit://u:p@mq:notaport/v", "rabbit:///v", "rabbit://u:p@h1,u:p@h2/v",
    "rabbit://u:p@mq:70000/v",
])
def test_rabbit_url_errors(url):
    with pytest.raises(ValueError):
        parse_rabbit_url(url)


def test_connect_picks_the_transport():
    assert isinstance(connect("memory://"), MemoryBus)
    rabbit = connect("rabbit://kumo:pw@127.0.0.1:5672/kumo")
    assert isinstance(rabbit, RabbitBus) and rabbit.params.virtualhost == "kumo"
    assert "pw" not in repr(rabbit)
    assert bus_pkg.RabbitBus is RabbitBus
    with pytest.raises(ValueError):
        connect("kafka://broker")
    with pytest.raises(ValueError):
        connect("rabbit://u:p@mq:bad/v")


@pytest.mark.parametrize("prefix,key", [
    ("compute.instance.", "compute.instance.#"),
    ("compute.inst", "compute.#"),
    ("compute", "#"),
    ("", "#"),
    ("a.b.c.", "a.b.c.#"),
])
def test_binding_key_for_prefix(prefix, key):
    assert binding_key(prefix) == key


def test_wire_format_roundtrip():
    method, args = decode_request(encode_request("add", {"a": 1, "b": [1, 2]}))
    assert (method, args) == ("add", {"a": 1, "b": [1, 2]})
    assert decode_reply(encode_reply({"x": 1})) == {"x": 1}
    assert decode_reply(encode_reply(None)) is None
    with pytest.raises(RemoteError) as err:
        decode_reply(encode_reply(error=RemoteError("Conflict", "busy")))
    assert (err.value.kind, err.value.message) == ("Conflict", "busy")
    with pytest.raises(TypeError):
        encode_request("add", {"a": object()})


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"args": {}}', b'{"method": 1}',
                                  b'{"method": "m", "args": [1]}'])
def test_malformed_requests_are_bad_request(body):
    with pytest.raises(RemoteError) as err:
        decode_request(body)
    assert err.value.kind == "BadRequest"


@pytest.mark.parametrize("body", [b"not json", b"[1]"])
def test_malformed_replies_are_bad_reply(body):
    with pytest.raises(RemoteError) as err:
        decode_reply(body)
    assert err.value.kind == "BadReply"


async def test_invoke_rejects_non_methods():
    class Endpoint:
        value = 3

        async def ok(self):
            return (1,)

    assert await invoke(Endpoint(), "ok", {}) == [1]
    for name in ("value", "missing", "_hidden"):
        with pytest.raises(RemoteError) as err:
            await invoke(Endpoint(), name, {})
        assert err.value.kind == "UnknownMethod"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_rabbit_unreachable_broker_is_a_connection_error():
    bus = RabbitBus(f"rabbit://u:p@127.0.0.1:{_closed_port()}/v", connect_timeout=5)
    with pytest.raises(ConnectionError) as err:
        await bus.start()
    assert "p@" not in str(err.value)
    with pytest.raises(ConnectionError):
        await bus.cast("calc", "record", value=1)
    await bus.drain()
    await bus.close()


async def test_rabbit_checks_json_before_connecting():
    bus = RabbitBus(f"rabbit://u:p@127.0.0.1:{_closed_port()}/v", connect_timeout=5)
    with pytest.raises(TypeError):
        await bus.call("calc", "add", a=object())
    with pytest.raises(TypeError):
        await bus.fanout("calc", "add", a={1, 2})
    await bus.close()  # never connected: nothing to do


async def test_rabbit_subscription_waits_for_the_connection():
    bus = RabbitBus(f"rabbit://u:p@127.0.0.1:{_closed_port()}/v", connect_timeout=5)

    async def callback(event_type, payload):
        pass

    bus.subscribe("compute.", callback)
    await bus.drain()  # the background binding failed (no broker): drain still returns
    with pytest.raises(ConnectionError):
        await bus.notify("compute.x", {})
    await bus.close()


def test_memory_and_rabbit_share_error_types():
    from kumo.common.bus import base
    assert NoListener is base.NoListener and RemoteError is base.RemoteError
