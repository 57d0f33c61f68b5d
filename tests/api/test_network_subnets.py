"""Subnets: defaults, validation of CIDRs, gateways and pools, ownership, in-use, DHCP notices."""
from __future__ import annotations

import pytest

from tests.api.test_network_support import (DEMO, DhcpRecorder, as_token, create, error,
                                            network_client, network_with_subnet)

SUBNET_FIELDS = {
    "id", "name", "network_id", "tenant_id", "project_id", "ip_version", "cidr", "gateway_ip",
    "allocation_pools", "dns_nameservers", "host_routes", "enable_dhcp", "ipv6_ra_mode",
    "ipv6_address_mode", "subnetpool_id", "segment_id", "service_types", "description", "tags",
    "created_at", "updated_at", "revision_number"}


@pytest.fixture
async def client(mount):
    return await network_client(mount)


@pytest.fixture
async def dhcp(rt):
    recorder = DhcpRecorder()
    await rt.bus.serve("dhcp_agent", recorder)
    return recorder


async def test_subnet_defaults(client):
    net, sub = await network_with_subnet(client, cidr="10.1.0.0/24", name="s1")
    assert set(sub) == SUBNET_FIELDS
    assert sub["network_id"] == net["id"] and sub["project_id"] == sub["tenant_id"] == DEMO
    assert (sub["ip_version"], sub["cidr"], sub["gateway_ip"]) == (4, "10.1.0.0/24", "10.1.0.1")
    assert sub["allocation_pools"] == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert sub["enable_dhcp"] is True and sub["dns_nameservers"] == [] and sub["host_routes"] == []
    assert sub["subnetpool_id"] is None and sub["ipv6_ra_mode"] is None
    r = await client.get(f"/v2.0/networks/{net['id']}")
    assert r.json()["network"]["subnets"] == [sub["id"]]


async def test_subnet_with_everything(client):
    net = await create(client, "network", name="n")
    sub = await create(client, "subnet", network_id=net["id"], cidr="192.168.7.0/24", ip_version=4,
                       gateway_ip="192.168.7.254", enable_dhcp=False,
                       allocation_pools=[{"start": "192.168.7.100", "end": "192.168.7.110"},
                                         {"start": "192.168.7.10", "end": "192.168.7.20"}],
                       dns_nameservers=["8.8.8.8", "1.1.1.1"],
                       host_routes=[{"destination": "10.20.0.0/16", "nexthop": "192.168.7.1"}],
                       description="desc")
    assert sub["gateway_ip"] == "192.168.7.254" and sub["enable_dhcp"] is False
    assert sub["allocation_pools"] == [{"start": "192.168.7.10", "end": "192.168.7.20"},
                                       {"start": "192.168.7.100", "end": "192.168.7.110"}]
    assert sub["dns_nameservers"] == ["8.8.8.8", "1.1.1.1"]
    assert sub["host_routes"] == [{"destination": "10.20.0.0/16", "nexthop": "192.168.7.1"}]
    # No gateway: the whole host range is allocatable.
    sub2 = await create(client, "subnet", network_id=net["id"], cidr="192.168.8.0/29", ip_version=4,
                        gateway_ip=None)
    assert sub2["gateway_ip"] is None
    assert sub2["allocation_pools"] == [{"start": "192.168.8.1", "end": "192.168.8.6"}]
    # A gateway in the middle splits the default pool.
    sub3 = await create(client, "subnet", network_id=net["id"], cidr="192.168.9.0/29", ip_version=4,
                        gateway_ip="192.168.9.3")
    assert sub3["allocation_pools"] == [{"start": "192.168.9.1", "end": "192.168.9.2"},
                                        {"start": "192.168.9.4", "end": "192.168.9.6"}]


async def test_ipv6_subnet_minimal(client):
    net = await create(client, "network", name="v6")
    sub = await create(client, "subnet", network_id=net["id"], cidr="fd00:1::/64", ip_version=6)
    assert sub["gateway_ip"] == "fd00:1::1"
    assert sub["allocation_pools"][0]["start"] == "fd00:1::2"
    port = await create(client, "port", network_id=net["id"])
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "fd00:1::2"}]


@pytest.mark.parametrize("body,status,kind", [
    ({"cidr": "10.0.0.0/33"}, 400, None),
    ({"cidr": "banana"}, 400, None),
    ({"cidr": "10.0.0.5/24"}, 400, None),
    ({"cidr": "10.0.0.0/24", "ip_version": 6}, 400, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "ip_version": 5}, 400, None),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}, 400, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.0"}, 400, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "nope"}, 400, None),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.1.5", "end": "10.0.1.9"}]},
     400, "OutOfBoundsAllocationPool"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.5"}]},
     400, "InvalidAllocationPool"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.2"}]}, 400, None),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]},
     409, "GatewayConflictWithAllocationPools"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"},
                                                  {"start": "10.0.0.9", "end": "10.0.0.20"}]},
     409, "OverlappingAllocationPools"),
    ({"cidr": "10.0.0.0/24", "dns_nameservers": ["8.8.8.8", "8.8.8.8"]}, 400, None),
    ({"cidr": "10.0.0.0/24", "host_routes": [{"destination": "x", "nexthop": "10.0.0.1"}]}, 400, None),
    ({"cidr": "10.0.0.0/24", "subnetpool_id": "abc"}, 400, None),
    ({"cidr": "10.0.0.0/24", "bogus": True}, 400, "HTTPBadRequest"),
    ({}, 400, "HTTPBadRequest"),
])
async def test_subnet_validation(client, body, status, kind):
    net = await create(client, "network", name="v")
    r = await client.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], **body}})
    got = error(r)
    assert got[0] == status, r.text
    if kind:
        assert got[1] == kind
    assert (await client.get(f"/v2.0/networks/{net['id']}")).json()["network"]["subnets"] == []


async def test_overlapping_cidr_in_the_same_network(client):
    net, _ = await network_with_subnet(client, cidr="10.2.0.0/16")
    r = await client.post("/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.2.3.0/24", "ip_version": 4}})
    assert error(r) == (400, "InvalidInput")
    assert "overlaps with another subnet" in r.json()["NeutronError"]["message"]
    # Another network may reuse it.
    await network_with_subnet(client, cidr="10.2.3.0/24")


async def test_subnet_on_foreign_networks(client):
    private = await create(client, "network", "alt-token", name="alt-private")
    shared = await create(client, "network", "admin-token", name="pub", shared=True)
    body = {"cidr": "10.9.0.0/24", "ip_version": 4}
    r = await client.post("/v2.0/subnets", json={"subnet": {"network_id": private["id"], **body}})
    assert error(r) == (404, "NetworkNotFound")
    r = await client.post("/v2.0/subnets", json={"subnet": {"network_id": shared["id"], **body}})
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.post("/v2.0/subnets", json={"subnet": {"network_id": private["id"], **body}},
                          headers=as_token("admin-token"))
    assert r.status_code == 201
    sub = r.json()["subnet"]
    # alt (the network's owner) sees it; demo does not.
    assert (await client.get(f"/v2.0/subnets/{sub['id']}", headers=as_token("alt-token"))
            ).status_code == 200
    assert error(await client.get(f"/v2.0/subnets/{sub['id']}")) == (404, "SubnetNotFound")
    r = await client.get("/v2.0/subnets")
    assert sub["id"] not in [s["id"] for s in r.json()["subnets"]]
    r = await client.post("/v2.0/subnets", json={"subnet": {"network_id": private["id"], **body}},
                          headers=as_token("reader-token"))
    assert error(r) == (403, "PolicyNotAuthorized")


async def test_shared_network_subnets_are_visible(client):
    shared = await create(client, "network", "admin-token", name="pub", shared=True)
    sub = await create(client, "subnet", "admin-token", network_id=shared["id"],
                       cidr="172.24.4.0/24", ip_version=4)
    r = await client.get("/v2.0/subnets", params={"network_id": shared["id"]},
                         headers=as_token("alt-token"))
    assert [s["id"] for s in r.json()["subnets"]] == [sub["id"]]
    r = await client.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"name": "x"}},
                         headers=as_token("alt-token"))
    assert error(r) == (403, "PolicyNotAuthorized")


async def test_update_subnet(client, dhcp, rt):
    net, sub = await network_with_subnet(client, cidr="10.3.0.0/24")
    await rt.bus.drain()
    dhcp.calls.clear()
    r = await client.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {
        "name": "new", "gateway_ip": "10.3.0.254", "dns_nameservers": ["9.9.9.9"],
        "allocation_pools": [{"start": "10.3.0.10", "end": "10.3.0.20"}],
        "host_routes": [{"destination": "0.0.0.0/0", "nexthop": "10.3.0.254"}],
        "enable_dhcp": False}})
    assert r.status_code == 200, r.text
    upd = r.json()["subnet"]
    assert (upd["name"], upd["gateway_ip"], upd["dns_nameservers"], upd["enable_dhcp"]) == \
        ("new", "10.3.0.254", ["9.9.9.9"], False)
    assert upd["allocation_pools"] == [{"start": "10.3.0.10", "end": "10.3.0.20"}]
    assert upd["revision_number"] == sub["revision_number"] + 1
    await rt.bus.drain()
    assert dhcp.calls == [("network_changed", net["id"])]
    for body in ({"cidr": "10.4.0.0/24"}, {"network_id": net["id"]}, {"ip_version": 6}):
        r = await client.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": body})
        assert error(r) == (400, "HTTPBadRequest"), body
    r = await client.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"gateway_ip": "10.3.0.15"}})
    assert error(r) == (409, "GatewayConflictWithAllocationPools")
    r = await client.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"gateway_ip": "10.9.9.9"}})
    assert error(r) == (400, "InvalidInput")
    r = await client.get(f"/v2.0/subnets/{sub['id']}")
    assert r.json()["subnet"]["gateway_ip"] == "10.3.0.254"


async def test_delete_subnet_in_use(client, dhcp, rt):
    net, sub = await network_with_subnet(client, cidr="10.5.0.0/24")
    dport = await create(client, "port", "admin-token", network_id=net["id"],
                         device_owner="network:dhcp", device_id="dhcp-a")
    vm = await create(client, "port", network_id=net["id"])
    r = await client.delete(f"/v2.0/subnets/{sub['id']}")
    assert error(r) == (409, "SubnetInUse")
    assert (await client.delete(f"/v2.0/ports/{vm['id']}")).status_code == 204
    await rt.bus.drain()
    dhcp.calls.clear()
    assert (await client.delete(f"/v2.0/subnets/{sub['id']}")).status_code == 204
    await rt.bus.drain()
    assert dhcp.calls == [("network_changed", net["id"])]
    r = await client.get(f"/v2.0/ports/{dport['id']}", headers=as_token("admin-token"))
    assert r.json()["port"]["fixed_ips"] == []
    assert (await client.get(f"/v2.0/networks/{net['id']}")).json()["network"]["subnets"] == []
    # The freed range is usable again by a new subnet.
    await create(client, "subnet", network_id=net["id"], cidr="10.5.0.0/24", ip_version=4)


async def test_subnet_create_notifies_dhcp(client, dhcp, rt):
    net, _ = await network_with_subnet(client, cidr="10.6.0.0/24")
    await rt.bus.drain()
    assert dhcp.calls == [("network_changed", net["id"])]


async def test_subnet_list_filters(client):
    net, a = await network_with_subnet(client, cidr="10.7.0.0/24", name="a")
    b = await create(client, "subnet", network_id=net["id"], cidr="10.8.0.0/24", ip_version=4,
                     name="b", enable_dhcp=False)
    other, c = await network_with_subnet(client, cidr="10.7.0.0/24", name="c")
    r = await client.get("/v2.0/subnets", params={"network_id": net["id"]})
    assert {s["id"] for s in r.json()["subnets"]} == {a["id"], b["id"]}
    r = await client.get("/v2.0/subnets", params={"cidr": "10.7.0.0/24"})
    assert {s["id"] for s in r.json()["subnets"]} == {a["id"], c["id"]}
    r = await client.get("/v2.0/subnets", params={"enable_dhcp": "false"})
    assert [s["id"] for s in r.json()["subnets"]] == [b["id"]]
    r = await client.get("/v2.0/subnets", params={"ip_version": "4", "name": "c"})
    assert [s["id"] for s in r.json()["subnets"]] == [c["id"]]
    r = await client.get("/v2.0/subnets", params={"fields": "cidr", "name": "b"})
    assert r.json()["subnets"] == [{"cidr": "10.8.0.0/24"}]
