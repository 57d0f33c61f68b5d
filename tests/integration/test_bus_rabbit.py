"""The rabbit:// bus on a real RabbitMQ broker, started for these tests by scripts/rabbitmq.sh.

Runs every transport check of tests/unit/test_bus_behaviour.py over two separate
connections (as two processes would), plus what only a broker has: credentials,
virtual hosts, and reconnection after the broker drops the connection.
"""
from __future__ import annotations

import asyncio
import os
import random
import shlex
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from kumo.common.bus import RabbitBus, connect
from tests.unit.test_bus_behaviour import *  # noqa: F401,F403  (the shared checks and fixtures)
from tests.unit.test_bus_behaviour import Echo, eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "rabbitmq.sh"
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> tuple[int, int]:
    """An AMQP port whose distribution port (+20000) and CLI ports (+30000..) are free,
    and a private Erlang port-mapper port."""
    for _ in range(200):
        amqp, epmd = random.randrange(20000, 25000), random.randrange(25000, 30000)
        if all(_free(p) for p in (amqp, amqp + 20000, amqp + 30000, epmd)):
            return amqp, epmd
    raise RuntimeError("no free ports for a test broker")


@dataclass
class Broker:
    url: str
    state: Path

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        """Run rabbitmqctl against this broker (its node name and cookie)."""
        quoted = " ".join(shlex.quote(a) for a in args)
        script = (f". {shlex.quote(str(self.state / 'env'))} && /usr/lib/rabbitmq/bin/rabbitmqctl"
                  f' -q -n "$RABBITMQ_NODENAME" {quoted}')
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A private broker (state, logs and Erlang cookie in a temp dir), stopped after."""
    if os.geteuid() != 0:
        pytest.skip("integration tests run as root (CI)")
    if not SERVER.exists():
        pytest.fail("rabbitmq-server is not installed: run `make install` (scripts/install.sh)")
    state = tmp_path_factory.mktemp("rabbitmq")
    amqp, epmd = _ports()
    env = dict(os.environ, KUMO_RABBIT_EPMD_PORT=str(epmd), RABBITMQ_START_TIMEOUT="90")
    try:
        proc = subprocess.run([str(SCRIPT), "start", str(state), str(amqp)], env=env,
                              capture_output=True, text=True, timeout=150)
        assert proc.returncode == 0, f"broker did not start:\n{proc.stdout}\n{proc.stderr}"
        yield Broker(proc.stdout.strip(), state)
    finally:
        subprocess.run([str(SCRIPT), "stop", str(state)], env=env, capture_output=True,
                       timeout=120)


@pytest.fixture(params=["rabbit"])
def bus_url(request, broker):
    """Overrides the shared checks' transport: the test broker."""
    return broker.url


async def test_connect_gives_a_rabbit_bus_for_the_broker(broker):
    bus = connect(broker.url)
    assert isinstance(bus, RabbitBus)
    assert bus.params.virtualhost == "kumo" and bus.params.login == "kumo"
    await bus.start()
    await bus.close()


async def test_wrong_password_or_vhost_is_a_connection_error(broker):
    bad_password = broker.url.replace("kumo:", "kumo:x", 1)
    with pytest.raises(ConnectionError):
        await RabbitBus(bad_password, connect_timeout=15).start()
    bad_vhost = broker.url.rsplit("/", 1)[0] + "/no-such-vhost"
    with pytest.raises(ConnectionError):
        await RabbitBus(bad_vhost, connect_timeout=15).call("calc", "whoami", timeout=15)


async def test_reconnects_after_the_broker_drops_connections(broker):
    a = RabbitBus(broker.url, reconnect_interval=0.2)
    b = RabbitBus(broker.url, reconnect_interval=0.2)
    try:
        one = Echo("one", a)
        await a.serve("calc", one, server="n1")
        got = []

        async def sub(event_type, payload):
            got.append(payload["n"])

        a.subscribe("kumo.test.", sub)
        await a.drain()
        assert await b.call("calc.n1", "whoami") == "one"

        proc = broker.ctl("close_all_connections", "-p", "kumo", "test: reconnect")
        assert proc.returncode == 0, proc.stderr

        # Both sides come back by themselves: queues, bindings and consumers restored.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        answer = None
        while answer is None:
            try:
                answer = await b.call("calc.n1", "whoami", timeout=2)
            except Exception as e:  # NoListener, TimeoutError, channel errors while restoring
                assert loop.time() < deadline, f"no reconnection: {e!r}"
                await asyncio.sleep(0.2)
        assert answer == "one"
        await eventually(lambda: a.reconnects >= 1 and b.reconnects >= 1, a, b)
        await b.notify("kumo.test.after", {"n": 2})
        await eventually(lambda: got == [2], a, b)
        await b.cast("calc.n1", "record", value="after")
        await eventually(lambda: one.seen == ["after"], a, b)
    finally:
        await a.close()
        await b.close()
