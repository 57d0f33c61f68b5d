"""Agents: heartbeats over the bus (network_server.agent_heartbeat) and /v2.0/agents."""
from __future__ import annotations

from datetime import timedelta

import pytest

from kumo.common.bus import RemoteError
from kumo.common.db import utcnow
from kumo.network.agents import dhcp as dhcp_agent
from kumo.network.service import views
from tests.api.test_network_support import as_token, error, network_client

ADMIN = as_token("admin-token")
REPORT = {"agent_type": "DHCP agent", "binary": "kumo-dhcp-agent", "host": "node1",
          "topic": "dhcp_agent", "configurations": {"networks": 2}}


@pytest.fixture
async def client(mount):
    return await network_client(mount)


async def test_heartbeat_registers_an_alive_agent(client, rt, monkeypatch):
    answer = await rt.bus.call("network_server", "agent_heartbeat", agent=dict(REPORT, start_flag=True))
    r = await client.get("/v2.0/agents", headers=ADMIN)
    assert r.status_code == 200
    [agent] = r.json()["agents"]
    assert agent["id"] == answer["id"]
    assert (agent["agent_type"], agent["binary"], agent["host"], agent["topic"]) == \
        ("DHCP agent", "kumo-dhcp-agent", "node1", "dhcp_agent")
    assert agent["alive"] is True and agent["admin_state_up"] is True
    assert agent["configurations"] == {"networks": 2}
    assert agent["availability_zone"] == "nova"
    assert {"created_at", "started_at", "heartbeat_timestamp", "description"} <= set(agent)
    # A second report updates the same agent.
    again = await rt.bus.call("network_server", "agent_heartbeat",
                              agent=dict(REPORT, configurations={"networks": 3}))
    assert again["id"] == agent["id"]
    r = await client.get(f"/v2.0/agents/{agent['id']}", headers=ADMIN)
    assert r.json()["agent"]["configurations"] == {"networks": 3}
    # Silent for more than 75 s: not alive.
    later = utcnow() + timedelta(seconds=76)
    monkeypatch.setattr(views, "utcnow", lambda: later)
    r = await client.get("/v2.0/agents", params={"alive": "false"}, headers=ADMIN)
    assert [a["id"] for a in r.json()["agents"]] == [agent["id"]]


async def test_bad_heartbeat_is_refused(client, rt):
    with pytest.raises(RemoteError):
        await rt.bus.call("network_server", "agent_heartbeat", agent={"host": "x"})
    r = await client.get("/v2.0/agents", headers=ADMIN)
    assert r.json()["agents"] == []


async def test_agents_are_for_admins(client, rt):
    answer = await rt.bus.call("network_server", "agent_heartbeat", agent=REPORT)
    r = await client.get("/v2.0/agents")
    assert r.status_code == 200 and r.json()["agents"] == []
    assert error(await client.get(f"/v2.0/agents/{answer['id']}")) == (404, "AgentNotFound")
    r = await client.put(f"/v2.0/agents/{answer['id']}", json={"agent": {"admin_state_up": False}})
    assert error(r) == (404, "AgentNotFound")
    r = await client.put(f"/v2.0/agents/{answer['id']}", headers=ADMIN,
                         json={"agent": {"admin_state_up": False, "description": "maintenance"}})
    assert r.status_code == 200
    assert (r.json()["agent"]["admin_state_up"], r.json()["agent"]["description"]) == \
        (False, "maintenance")
    r = await client.put(f"/v2.0/agents/{answer['id']}", headers=ADMIN,
                         json={"agent": {"host": "elsewhere"}})
    assert r.status_code == 400
    assert (await client.delete(f"/v2.0/agents/{answer['id']}", headers=ADMIN)).status_code == 204
    assert error(await client.get(f"/v2.0/agents/{answer['id']}", headers=ADMIN))[0] == 404


async def test_dhcp_agent_report_shape(rt, settings):
    agent = dhcp_agent.DhcpAgent(rt)
    report = agent.agent_report(start=True)
    assert {k: report[k] for k in ("agent_type", "binary", "host", "topic", "start_flag")} == {
        "agent_type": "DHCP agent", "binary": "kumo-dhcp-agent", "host": "testhost",
        "topic": "dhcp_agent", "start_flag": True}
    assert isinstance(report["configurations"], dict)
    # No network server on the bus: the heartbeat is simply not delivered.
    assert await agent.heartbeat() is False
