"""Type drivers (vxlan project networks, provider vxlan/vlan) and per-host port binding."""
from __future__ import annotations

import pytest

from tests.api.test_network_support import as_token, create, error, network_client

ADMIN = as_token("admin-token")


def l2_report(host: str, **conf) -> dict:
    return {"agent_type": "Linux bridge agent", "binary": "neutron-linuxbridge-agent",
            "host": host, "topic": "l2_agent", "start_flag": True,
            "configurations": {"tunnel_types": ["vxlan"], "bridge_mappings": {"public": "br-ex"},
                               "local_ip": "127.0.0.1", "firewall": True, **conf}}


@pytest.fixture
async def client(mount, settings):
    settings.network.vni_ranges = ["100:102"]
    return await network_client(mount)


async def _admin_net(client, net_id):
    r = await client.get(f"/v2.0/networks/{net_id}", headers=ADMIN)
    return r.json()["network"]


async def test_project_networks_take_vnis_from_the_range_and_release_them(client):
    nets = [await create(client, "network", name=f"n{i}") for i in range(3)]
    seen = [(await _admin_net(client, n["id"]))["provider:segmentation_id"] for n in nets]
    assert seen == [100, 101, 102]
    assert {n["mtu"] for n in nets} == {1450}
    assert (await _admin_net(client, nets[0]["id"]))["provider:network_type"] == "vxlan"
    r = await client.post("/v2.0/networks", json={"network": {"name": "full"}})
    assert error(r) == (503, "NoNetworkAvailable")
    r = await client.delete(f"/v2.0/networks/{nets[1]['id']}")
    assert r.status_code == 204
    again = await create(client, "network", name="again")
    assert (await _admin_net(client, again["id"]))["provider:segmentation_id"] == 101


async def test_provider_vxlan_and_mtu(client):
    net = await create(client, "network", "admin-token", **{
        "provider:network_type": "vxlan", "provider:segmentation_id": 5000})
    assert (net["provider:segmentation_id"], net["mtu"]) == (5000, 1450)
    r = await client.post("/v2.0/networks", headers=ADMIN, json={"network": {
        "provider:network_type": "vxlan", "provider:segmentation_id": 5000}})
    assert error(r) == (409, "TunnelIdInUse")
    for bad in ({"provider:network_type": "vxlan", "provider:segmentation_id": 2 ** 24},
                {"provider:network_type": "vxlan", "provider:physical_network": "public"},
                {"provider:network_type": "vxlan", "mtu": 1500},
                {"provider:network_type": "gre"}):
        r = await client.post("/v2.0/networks", headers=ADMIN, json={"network": bad})
        assert r.status_code == 400, (bad, r.text)
    auto = await create(client, "network", "admin-token", **{"provider:network_type": "vxlan"})
    assert auto["provider:segmentation_id"] == 100
    r = await client.put(f"/v2.0/networks/{net['id']}", json={"network": {"mtu": 1400}},
                         headers=ADMIN)
    assert r.json()["network"]["mtu"] == 1400
    r = await client.put(f"/v2.0/networks/{net['id']}", json={"network": {"mtu": 1451}},
                         headers=ADMIN)
    assert error(r) == (400, "InvalidInput")
    r = await client.post("/v2.0/networks", json={"network": {
        "provider:network_type": "vxlan"}})  # demo may not choose provider attributes
    assert r.status_code == 403


async def test_vlan_ranges(client, settings):
    settings.network.network_vlan_ranges = ["public:200:201"]
    settings.network.tenant_network_types = ["vlan", "vxlan"]
    a = await _admin_net(client, (await create(client, "network", name="a"))["id"])
    assert (a["provider:network_type"], a["provider:physical_network"],
            a["provider:segmentation_id"]) == ("vlan", "public", 200)
    await create(client, "network", name="b")
    c = await _admin_net(client, (await create(client, "network", name="c"))["id"])
    assert (c["provider:network_type"], c["provider:segmentation_id"], c["mtu"]) == ("vxlan", 100, 1450)


async def test_binding_follows_the_hosts_l2_agent(client, rt):
    net = await create(client, "network", name="n")
    await create(client, "subnet", network_id=net["id"], cidr="10.9.0.0/24", ip_version=4)
    # No L2 agent anywhere yet: bound from the configured bridges, ACTIVE at once.
    port = await create(client, "port", "admin-token", network_id=net["id"],
                        **{"binding:host_id": "node1"})
    assert port["binding:vif_type"] == "bridge" and port["status"] == "ACTIVE"
    await rt.bus.call("network_server", "agent_heartbeat", agent=l2_report("node1"))
    bridge = "brq" + net["id"][:11]
    port = await create(client, "port", "admin-token", network_id=net["id"],
                        **{"binding:host_id": "node1"})
    assert port["binding:vif_type"] == "bridge"
    assert port["binding:vif_details"] == {"port_filter": True, "bridge_name": bridge}
    assert port["status"] == "DOWN"
    # The agent reports the tap: ACTIVE; then gone: DOWN. Other hosts' reports change nothing.
    assert await rt.bus.call("network_server", "update_port_status", host="node2",
                             up=[port["id"]], down=[]) == 0
    assert await rt.bus.call("network_server", "update_port_status", host="node1",
                             up=[port["id"]], down=[]) == 1
    r = await client.get(f"/v2.0/ports/{port['id']}")
    assert r.json()["port"]["status"] == "ACTIVE"
    await rt.bus.call("network_server", "update_port_status", host="node1", up=[], down=[port["id"]])
    r = await client.get(f"/v2.0/ports/{port['id']}")
    assert r.json()["port"]["status"] == "DOWN"
    # A host without an L2 agent, or whose agent cannot serve the type, fails the binding.
    r = await client.put(f"/v2.0/ports/{port['id']}", headers=ADMIN,
                         json={"port": {"binding:host_id": "node2"}})
    assert r.json()["port"]["binding:vif_type"] == "binding_failed"
    await rt.bus.call("network_server", "agent_heartbeat", agent=l2_report("node2", tunnel_types=[]))
    r = await client.put(f"/v2.0/ports/{port['id']}", headers=ADMIN,
                         json={"port": {"binding:host_id": "node2", "name": "x"}})
    assert r.json()["port"]["binding:vif_type"] == "binding_failed"
    # Flat networks use the agent's own bridge mapping.
    flat = await create(client, "network", "admin-token", **{
        "provider:network_type": "flat", "provider:physical_network": "public"})
    await rt.bus.call("network_server", "agent_heartbeat",
                      agent=l2_report("node3", bridge_mappings={"public": "br-pub3"}))
    p = await create(client, "port", "admin-token", network_id=flat["id"],
                     **{"binding:host_id": "node3"})
    assert p["binding:vif_details"]["bridge_name"] == "br-pub3"
