"""What every bus transport must do: one set of checks, run per transport.

Here on ``memory://``; tests/integration/test_bus_rabbit.py imports these tests
and runs them on a real RabbitMQ broker by overriding the ``bus_url`` fixture.
``buses`` is a pair ``(a, b)`` of handles on the bus as two processes hold
them: the same object in-process, two separate connections over a broker.
Effects that cross the transport are awaited with :func:`eventually` (bounded).
"""
from __future__ import annotations

import asyncio

import pytest

from kumo.common.bus import NoListener, RemoteError, connect


class Echo:
    """An endpoint that remembers what it was sent."""

    def __init__(self, name: str, bus=None):
        self.name, self.bus = name, bus
        self.seen: list = []
        self.release = asyncio.Event()

    async def whoami(self):
        return self.name

    async def add(self, a, b):
        return a + b

    async def echo(self, value):
        return value

    async def record(self, value):
        self.seen.append(value)

    async def fail(self):
        raise ValueError("nope")

    async def refuse(self):
        raise RemoteError("Conflict", "busy")

    async def unjson(self):
        return {"when": object()}

    async def hang(self):
        await self.release.wait()
        return "released"

    async def register(self, host, topic, method):
        self.seen.append([host, topic, method])
        return f"{host}:{topic}:{method}"

    async def relay(self, target):
        """Call another server from inside a handler (as the conductor pattern does)."""
        return await self.bus.call(target, "whoami")

    async def _private(self):
        return "secret"


@pytest.fixture(params=["memory"])
def bus_url(request):
    """The transport under test (integration tests override this with a broker URL)."""
    return "memory://"


@pytest.fixture
async def buses(bus_url):
    a = connect(bus_url)
    b = a if bus_url.startswith("memory://") else connect(bus_url)
    yield a, b
    for bus in {id(a): a, id(b): b}.values():
        await bus.close()


@pytest.fixture
async def servers(buses):
    """``one`` serves ``calc`` as server n1 on bus a, ``two`` as n2 on bus b."""
    a, b = buses
    one, two = Echo("one", a), Echo("two", b)
    await a.serve("calc", one, server="n1")
    await b.serve("calc", two, server="n2")
    yield one, two
    one.release.set()
    two.release.set()


async def eventually(check, *buses, timeout: float = 10.0) -> None:
    """Wait (at most ``timeout`` s) until ``check()`` is true, draining ``buses`` in between."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for bus in buses:
            await bus.drain()
        if check():
            return
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_call_reaches_the_named_server_across_connections(buses, servers):
    a, b = buses
    assert await a.call("calc.n2", "whoami") == "two"
    assert await b.call("calc.n1", "whoami") == "one"
    assert await a.call("calc.n2", "add", a=2, b=3) == 5


async def test_arguments_and_results_travel_as_json(buses, servers):
    a, _ = buses
    assert await a.call("calc.n2", "echo", value=(1, 2)) == [1, 2]
    assert await a.call("calc.n1", "echo", value={1: None, "s": "é"}) == {"1": None, "s": "é"}
    with pytest.raises(TypeError):
        await a.call("calc.n1", "echo", value=object())
    with pytest.raises(TypeError):
        await a.cast("calc.n1", "record", value={1, 2})
    with pytest.raises(TypeError):
        await a.notify("compute.instance.x", {"when": object()})


async def test_calls_and_casts_on_a_topic_go_round_robin(buses, servers):
    a, b = buses
    one, two = servers
    names = {await a.call("calc", "whoami") for _ in range(6)}
    assert names == {"one", "two"}
    for i in range(6):
        await a.cast("calc", "record", value=i)
    await eventually(lambda: len(one.seen) + len(two.seen) == 6, a, b)
    assert one.seen and two.seen
    assert sorted(one.seen + two.seen) == list(range(6))


async def test_cast_to_one_server(buses, servers):
    a, b = buses
    one, two = servers
    await a.cast("calc.n2", "record", value={"x": 1})
    await b.cast("calc.n1", "record", value=("y",))
    await eventually(lambda: two.seen and one.seen, a, b)
    assert two.seen == [{"x": 1}] and one.seen == [["y"]]


async def test_fanout_reaches_every_server(buses, servers):
    a, b = buses
    one, two = servers
    await a.fanout("calc", "record", value="all")
    await eventually(lambda: one.seen and two.seen, a, b)
    assert one.seen == ["all"] and two.seen == ["all"]
    await a.fanout("nobody-listens", "record", value="lost")  # no listener: nothing happens


async def test_endpoint_failures_come_back_as_remote_error(buses, servers):
    a, _ = buses
    with pytest.raises(RemoteError) as err:
        await a.call("calc.n2", "fail")
    assert (err.value.kind, err.value.message) == ("ValueError", "nope")
    with pytest.raises(RemoteError) as err:
        await a.call("calc.n2", "refuse")
    assert (err.value.kind, err.value.message) == ("Conflict", "busy")
    with pytest.raises(RemoteError) as err:
        await a.call("calc.n2", "unjson")
    assert err.value.kind == "TypeError"
    for method in ("missing", "_private", "__init__"):
        with pytest.raises(RemoteError) as err:
            await a.call("calc.n2", method)
        assert err.value.kind == "UnknownMethod"
    with pytest.raises(RemoteError) as err:
        await a.call("calc.n2", "add", a=1)  # missing argument
    assert err.value.kind == "TypeError"
    # A failed cast is the server's problem: the caller is not told, the server keeps serving.
    await a.cast("calc.n2", "fail")
    assert await a.call("calc.n2", "whoami") == "two"


async def test_nobody_listening_raises_no_listener(buses, servers):
    a, b = buses
    one, two = servers
    with pytest.raises(NoListener):
        await a.call("nobody", "whoami")
    with pytest.raises(NoListener):
        await a.cast("nobody", "record", value=1)
    with pytest.raises(NoListener):
        await a.call("calc.n3", "whoami")  # a server that does not exist
    await b.unserve(two)
    with pytest.raises(NoListener):
        await a.call("calc.n2", "whoami")
    assert {await a.call("calc", "whoami") for _ in range(4)} == {"one"}
    await a.unserve(one)
    with pytest.raises(NoListener):
        await b.call("calc", "whoami")
    await b.serve("calc", two, server="n2")  # serving again works
    assert await a.call("calc", "whoami") == "two"


async def test_call_timeout_and_concurrent_handling(buses, servers):
    a, b = buses
    one, two = servers
    with pytest.raises(TimeoutError):
        await a.call("calc.n2", "hang", timeout=0.2)
    # While a handler waits, the same server keeps answering.
    slow = asyncio.ensure_future(b.call("calc.n1", "hang", timeout=30))
    assert await a.call("calc.n1", "add", a=1, b=1) == 2
    assert not slow.done()
    one.release.set()
    assert await slow == "released"


async def test_endpoint_may_call_other_servers(buses, servers):
    a, _ = buses
    assert await a.call("calc.n2", "relay", target="calc.n1") == "one"
    with pytest.raises(RemoteError) as err:
        await a.call("calc.n2", "relay", target="nobody")
    assert err.value.kind == "NoListener"


async def test_arguments_may_be_named_topic_or_method(buses, servers):
    a, b = buses
    one, two = servers
    assert await a.call("calc.n2", "register", host="h", topic="compute", method="m") == "h:compute:m"
    await a.cast("calc.n1", "register", host="c", topic="t", method="m")
    await a.fanout("calc", "register", host="f", topic="t", method="m")
    await eventually(lambda: len(one.seen) == 2 and len(two.seen) == 2, a, b)
    assert sorted(one.seen) == [["c", "t", "m"], ["f", "t", "m"]]
    assert sorted(two.seen) == [["f", "t", "m"], ["h", "compute", "m"]]


async def test_notifications_by_prefix(buses):
    a, b = buses
    exact, partial, everything = [], [], []

    def collector(into):
        async def callback(event_type, payload):
            into.append((event_type, payload))
        return callback

    a.subscribe("compute.instance.", collector(exact))
    a.subscribe("compute.inst", collector(partial))
    b.subscribe("", collector(everything))
    await a.drain()
    await b.drain()
    for event in ("image.upload", "compute.instance", "compute.instances.x", "compute"):
        await b.notify(event, {"event": event})
    await b.notify("compute.instance.create.end", {"id": 1, "t": (1, 2)})
    await eventually(lambda: exact and len(partial) == 3 and len(everything) == 5, a, b)
    assert exact == [("compute.instance.create.end", {"id": 1, "t": [1, 2]})]
    assert [e for e, _ in partial] == ["compute.instance", "compute.instances.x",
                                       "compute.instance.create.end"]
    assert [e for e, _ in everything] == ["image.upload", "compute.instance",
                                          "compute.instances.x", "compute",
                                          "compute.instance.create.end"]


async def test_a_failing_subscriber_does_not_stop_the_others(buses):
    a, b = buses
    got = []

    async def broken(event_type, payload):
        raise RuntimeError("subscriber bug")

    async def good(event_type, payload):
        got.append(payload["n"])

    a.subscribe("x.", broken)
    a.subscribe("x.", good)
    await a.drain()
    await b.notify("x.one", {"n": 1})
    await b.notify("x.two", {"n": 2})
    await eventually(lambda: len(got) == 2, a, b)
    assert got == [1, 2]
