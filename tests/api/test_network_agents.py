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


# --- L3 / DHCP agent schedulers -----------------------------------------------------------

L3_REPORT = {"agent_type": "L3 agent", "binary": "neutron-l3-agent", "topic": "l3_agent",
             "configurations": {}}


async def _agent(rt, host: str, report: dict = L3_REPORT, start: bool = True) -> str:
    answer = await rt.bus.call("network_server", "agent_heartbeat",
                               agent=dict(report, host=host, start_flag=start))
    return answer["id"]


async def _hosts(client, router_id: str) -> list[str]:
    r = await client.get(f"/v2.0/routers/{router_id}/l3-agents", headers=ADMIN)
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()["agents"]]


async def test_routers_go_to_the_least_loaded_l3_agent_and_move(client, rt):
    from tests.api.test_network_routers import L3Recorder, add_if, external_net, router
    from tests.api.test_network_support import network_with_subnet

    a1, a2 = await _agent(rt, "node1"), await _agent(rt, "node2")
    ext, _ = await external_net(client)
    idle = await router(client)                     # no gateway, no interface: nobody hosts it
    assert await _hosts(client, idle["id"]) == []
    r1 = await router(client, external_gateway_info={"network_id": ext["id"]})
    assert await _hosts(client, r1["id"]) == [a1]   # a tie goes by host name
    r2 = await router(client)
    _, sub = await network_with_subnet(client, cidr="10.0.0.0/24")
    assert (await add_if(client, r2["id"], subnet_id=sub["id"])).status_code == 200
    assert await _hosts(client, r2["id"]) == [a2]   # the least loaded
    listed = (await client.get(f"/v2.0/agents/{a1}/l3-routers", headers=ADMIN)).json()["routers"]
    assert [(x["id"], x["external_gateway_info"]["network_id"]) for x in listed] == \
        [(r1["id"], ext["id"])]

    # moving r1 to node2: both agents hear of it (the old one unwires, the new one wires)
    l3 = L3Recorder()
    await rt.bus.serve("l3_agent", l3)
    assert error(await client.delete(f"/v2.0/agents/{a2}/l3-routers/{r1['id']}", headers=ADMIN)) \
        == (409, "RouterNotHostedByL3Agent")
    assert (await client.delete(f"/v2.0/agents/{a1}/l3-routers/{r1['id']}", headers=ADMIN)).status_code == 204
    assert await _hosts(client, r1["id"]) == []
    r = await client.post(f"/v2.0/agents/{a2}/l3-routers", json={"router_id": r1["id"]}, headers=ADMIN)
    assert r.status_code == 201 and r.json() is None
    assert await _hosts(client, r1["id"]) == [a2]
    # the same agent again changes nothing; another one is refused
    r = await client.post(f"/v2.0/agents/{a2}/l3-routers", json={"router_id": r1["id"]}, headers=ADMIN)
    assert r.status_code == 201
    r = await client.post(f"/v2.0/agents/{a1}/l3-routers", json={"router_id": r1["id"]}, headers=ADMIN)
    assert error(r) == (409, "RouterHostedByL3Agent")
    await rt.bus.drain()
    assert l3.calls == [("routers_updated", (r1["id"],))] * 2

    # bad requests
    dhcp = await _agent(rt, "node1", REPORT)
    bad = [client.post(f"/v2.0/agents/{dhcp}/l3-routers", json={"router_id": idle["id"]}, headers=ADMIN),
           client.post(f"/v2.0/agents/{a1}/l3-routers", json={"router_id": a1}, headers=ADMIN),
           client.post(f"/v2.0/agents/{a1}/l3-routers", json={"router": "x"}, headers=ADMIN),
           client.post(f"/v2.0/agents/{a1}/l3-routers", json={"router_id": "nope"}, headers=ADMIN),
           client.post(f"/v2.0/agents/{a1}/l3-routers", json={"router_id": idle["id"]}),
           client.get(f"/v2.0/routers/{r1['id']}/l3-agents"),
           client.get(f"/v2.0/agents/{dhcp}/l3-routers", headers=ADMIN)]
    assert [error(await x) for x in bad] == [
        (404, "InvalidL3Agent"), (404, "RouterNotFound"), (400, "HTTPBadRequest"),
        (400, "HTTPBadRequest"), (403, "PolicyNotAuthorized"), (403, "PolicyNotAuthorized"),
        (404, "InvalidL3Agent")]
    # a disabled agent takes no router; deleting an agent frees its routers
    await client.put(f"/v2.0/agents/{a1}", json={"agent": {"admin_state_up": False}}, headers=ADMIN)
    r = await client.post(f"/v2.0/agents/{a1}/l3-routers", json={"router_id": idle["id"]}, headers=ADMIN)
    assert error(r) == (404, "InvalidL3Agent")
    assert (await client.delete(f"/v2.0/agents/{a2}", headers=ADMIN)).status_code == 204
    assert await _hosts(client, r1["id"]) == await _hosts(client, r2["id"]) == []


async def test_a_starting_agent_takes_unhosted_routers_unless_pinned(client, rt, settings):
    from tests.api.test_network_routers import external_net, router

    ext, _ = await external_net(client)
    r1 = await router(client, external_gateway_info={"network_id": ext["id"]})
    idle = await router(client)
    assert await _hosts(client, r1["id"]) == []     # no agent yet
    a1 = await _agent(rt, "node1", start=False)      # a new agent counts as starting
    assert (await _hosts(client, r1["id"]), await _hosts(client, idle["id"])) == ([a1], [])
    settings.network.router_auto_schedule = False
    r2 = await router(client, external_gateway_info={"network_id": ext["id"]})
    await _agent(rt, "node1")
    assert await _hosts(client, r2["id"]) == []     # pinned to none: admins schedule it
    r = await client.post(f"/v2.0/agents/{a1}/l3-routers", json={"router_id": r2["id"]}, headers=ADMIN)
    assert r.status_code == 201 and await _hosts(client, r2["id"]) == [a1]


async def test_networks_are_hosted_by_dhcp_agents(client, rt):
    from tests.api.test_network_support import DhcpRecorder, create, network_with_subnet

    agent = await _agent(rt, "node1", REPORT)
    l3 = await _agent(rt, "node1")
    # tempest looks agents up as "DHCP Agent"
    r = await client.get("/v2.0/agents", params={"agent_type": "DHCP Agent"}, headers=ADMIN)
    assert [a["id"] for a in r.json()["agents"]] == [agent]
    net, _ = await network_with_subnet(client)
    bare = await create(client, "network", name="bare")
    no_dhcp, _ = await network_with_subnet(client, cidr="10.1.0.0/24", enable_dhcp=False)

    async def hosting(network_id):
        r = await client.get(f"/v2.0/networks/{network_id}/dhcp-agents", headers=ADMIN)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["agents"]]

    assert (await hosting(net["id"]), await hosting(bare["id"]), await hosting(no_dhcp["id"])) == \
        ([agent], [], [])
    hosted = (await client.get(f"/v2.0/agents/{agent}/dhcp-networks", headers=ADMIN)).json()
    assert [n["id"] for n in hosted["networks"]] == [net["id"]]

    dhcp = DhcpRecorder()
    await rt.bus.serve("dhcp_agent", dhcp)
    url = f"/v2.0/agents/{agent}/dhcp-networks"
    dport = await create(client, "port", "admin-token", network_id=net["id"], device_owner="network:dhcp",
                         device_id="dhcp-x", **{"binding:host_id": "node1"})
    await rt.bus.drain()
    dhcp.calls.clear()
    assert (await client.delete(f"{url}/{net['id']}", headers=ADMIN)).status_code == 204
    # the agent's DHCP port went with the binding
    assert error(await client.get(f"/v2.0/ports/{dport['id']}", headers=ADMIN)) == (404, "PortNotFound")
    assert error(await client.delete(f"{url}/{net['id']}", headers=ADMIN)) == \
        (409, "NetworkNotHostedByDhcpAgent")
    assert await hosting(net["id"]) == []
    r = await client.post(url, json={"network_id": bare["id"]}, headers=ADMIN)
    assert r.status_code == 201 and await hosting(bare["id"]) == [agent]
    assert error(await client.post(url, json={"network_id": bare["id"]}, headers=ADMIN)) == \
        (409, "NetworkHostedByDHCPAgent")
    await rt.bus.drain()
    assert dhcp.calls == [("network_changed", net["id"]), ("network_changed", bare["id"])]
    bad = [client.post(f"/v2.0/agents/{l3}/dhcp-networks", json={"network_id": net["id"]}, headers=ADMIN),
           client.post(url, json={"network_id": agent}, headers=ADMIN),
           client.get(f"/v2.0/networks/{net['id']}/dhcp-agents"),
           client.delete(f"{url}/{net['id']}")]
    assert [error(await x) for x in bad] == [(404, "InvalidDHCPAgent"), (404, "NetworkNotFound"),
                                             (403, "PolicyNotAuthorized"), (403, "PolicyNotAuthorized")]
    # a change that concerns DHCP puts an unhosted network back on an agent
    await create(client, "port", network_id=net["id"])
    assert await hosting(net["id"]) == [agent]
    # the binding goes with the network
    assert (await client.delete(f"/v2.0/networks/{bare['id']}")).status_code == 204
    hosted = (await client.get(url, headers=ADMIN)).json()["networks"]
    assert [n["id"] for n in hosted] == [net["id"]]
