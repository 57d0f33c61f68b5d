"""Compute agent (fake driver): get_vnc_console, the bus side of remote consoles."""
from __future__ import annotations

import asyncio

import pytest

from kumo.common.bus import RemoteError
from kumo.compute.virt.fakerfb import BANNER
from tests.api.test_compute_agent import env, make_instance  # noqa: F401  (env is a fixture)


async def test_agent_reports_the_fake_guests_vnc_server(env):  # noqa: F811
    """``{"host": [vnc] server_proxyclient_address, "port"}`` of the fake driver's RFB server, which
    answers with its banner; a stopped guest has none, an unknown one is not found."""
    inst = make_instance(env.image_id)
    await env.build(inst)
    env.rt.settings.vnc.server_proxyclient_address = "127.0.0.1"
    target = await env.rt.bus.call("compute.testhost", "get_vnc_console", instance=inst)
    assert target == {"host": "127.0.0.1", "port": env.driver.vnc.port, "internal_access_path": None}
    reader, writer = await asyncio.open_connection(target["host"], target["port"])
    assert await asyncio.wait_for(reader.readexactly(12), 10) == BANNER
    writer.close()
    await env.driver.power_off(inst)
    with pytest.raises(RemoteError) as e:
        await env.rt.bus.call("compute.testhost", "get_vnc_console", instance=inst)
    assert e.value.kind == "VirtError"
    with pytest.raises(RemoteError) as e:
        await env.rt.bus.call("compute.testhost", "get_vnc_console", instance=make_instance(env.image_id))
    assert e.value.kind == "InstanceNotFound"
