"""Ports: IPAM, MAC addresses, binding, visibility, filters, updates, DHCP notices."""
from __future__ import annotations

import asyncio
import re

import pytest

from tests.api.test_network_support import (ALT, DEMO, DhcpRecorder, as_token, create, error,
                                            network_client, network_with_subnet)

MAC = re.compile(r"^fa:16:3e(:[0-9a-f]{2}){3}$")
PORT_FIELDS = {
    "id", "name", "network_id", "tenant_id", "project_id", "mac_address", "admin_state_up", "status",
    "device_id", "device_owner", "fixed_ips", "allowed_address_pairs", "extra_dhcp_opts",
    "security_groups", "port_security_enabled", "binding:vnic_type", "dns_name", "dns_assignment",
    "description", "tags", "created_at", "updated_at", "revision_number"}
BINDING = {"binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"}
ADMIN = as_token("admin-token")


@pytest.fixture
async def client(mount):
    return await network_client(mount)


async def test_port_defaults(client):
    net, sub = await network_with_subnet(client, cidr="10.0.0.0/24")
    port = await create(client, "port", network_id=net["id"], name="p")
    assert set(port) == PORT_FIELDS  # binding:* except vnic_type are admin-only
    assert MAC.match(port["mac_address"])
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.2"}]
    assert (port["status"], port["admin_state_up"], port["device_owner"], port["device_id"]) == \
        ("DOWN", True, "", "")
    assert port["project_id"] == port["tenant_id"] == DEMO
    assert port["binding:vnic_type"] == "normal" and len(port["security_groups"]) == 1  # default
    assert port["allowed_address_pairs"] == [] and port["extra_dhcp_opts"] == []
    assert port["dns_name"] == "" and port["port_security_enabled"] is True
    assert port["dns_assignment"] == [{"ip_address": "10.0.0.2", "hostname": "host-10-0-0-2",
                                       "fqdn": "host-10-0-0-2.openstacklocal."}]
    r = await client.get(f"/v2.0/ports/{port['id']}", headers=ADMIN)
    admin_view = r.json()["port"]
    assert BINDING <= set(admin_view)
    assert (admin_view["binding:vif_type"], admin_view["binding:vif_details"],
            admin_view["binding:host_id"], admin_view["binding:profile"]) == ("unbound", {}, "", {})


async def test_port_on_network_without_subnets_and_explicit_empty_ips(client):
    net = await create(client, "network", name="bare")
    port = await create(client, "port", network_id=net["id"])
    assert port["fixed_ips"] == []
    _, sub = await network_with_subnet(client, cidr="10.0.1.0/24")
    port = await create(client, "port", network_id=sub["network_id"], fixed_ips=[])
    assert port["fixed_ips"] == []


async def test_ipam_allocates_in_order_and_reuses_freed_addresses(client):
    net, sub = await network_with_subnet(
        client, cidr="10.0.0.0/24", allocation_pools=[{"start": "10.0.0.100", "end": "10.0.0.102"},
                                                      {"start": "10.0.0.50", "end": "10.0.0.50"}])
    ips = [(await create(client, "port", network_id=net["id"]))["fixed_ips"][0]["ip_address"]
           for _ in range(3)]
    assert ips == ["10.0.0.50", "10.0.0.100", "10.0.0.101"]
    r = await client.get("/v2.0/ports", params={"fixed_ips": "ip_address=10.0.0.100"})
    victim = r.json()["ports"][0]
    assert (await client.delete(f"/v2.0/ports/{victim['id']}")).status_code == 204
    again = await create(client, "port", network_id=net["id"])
    assert again["fixed_ips"][0]["ip_address"] == "10.0.0.100"
    last = await create(client, "port", network_id=net["id"])
    assert last["fixed_ips"][0]["ip_address"] == "10.0.0.102"
    r = await client.post("/v2.0/ports", json={"port": {"network_id": net["id"]}})
    assert error(r) == (409, "IpAddressGenerationFailure")
    assert r.json()["NeutronError"]["message"] == \
        f"No more IP addresses available on network {net['id']}."
    r = await client.get("/v2.0/ports", params={"network_id": net["id"]})
    assert len(r.json()["ports"]) == 4  # the failed create left nothing behind


async def test_first_ipv4_subnet_with_room_is_used(client):
    net, small = await network_with_subnet(client, cidr="10.1.0.0/30")  # one address: .2
    big = await create(client, "subnet", network_id=net["id"], cidr="10.2.0.0/24", ip_version=4)
    a = await create(client, "port", network_id=net["id"])
    b = await create(client, "port", network_id=net["id"])
    assert a["fixed_ips"] == [{"subnet_id": small["id"], "ip_address": "10.1.0.2"}]
    assert b["fixed_ips"] == [{"subnet_id": big["id"], "ip_address": "10.2.0.2"}]


async def test_requested_addresses(client):
    net, sub = await network_with_subnet(client, cidr="10.0.0.0/24")
    other_net, other_sub = await network_with_subnet(client, cidr="10.9.0.0/24")
    p = await create(client, "port", network_id=net["id"], fixed_ips=[{"ip_address": "10.0.0.200"}])
    assert p["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.200"}]
    q = await create(client, "port", network_id=net["id"],
                     fixed_ips=[{"subnet_id": sub["id"]}, {"subnet_id": sub["id"],
                                                           "ip_address": "10.0.0.7"}])
    assert [ip["ip_address"] for ip in q["fixed_ips"]] == ["10.0.0.2", "10.0.0.7"]
    cases = [
        ([{"ip_address": "10.0.0.200"}], 409, "IpAddressAlreadyAllocated"),
        ([{"subnet_id": sub["id"], "ip_address": "10.0.1.5"}], 400, "InvalidIpForSubnet"),
        ([{"subnet_id": sub["id"], "ip_address": "10.0.0.255"}], 400, "InvalidIpForSubnet"),
        ([{"ip_address": "192.168.1.1"}], 400, "InvalidInput"),
        ([{"subnet_id": other_sub["id"]}], 400, "InvalidInput"),
        ([{"ip_address": "not-an-ip"}], 400, "HTTPBadRequest"),
        ([{"subnet": "x"}], 400, "HTTPBadRequest"),
    ]
    for fixed_ips, status, kind in cases:
        r = await client.post("/v2.0/ports", json={"port": {"network_id": net["id"],
                                                            "fixed_ips": fixed_ips}})
        assert error(r) == (status, kind), (fixed_ips, r.text)
    r = await client.get("/v2.0/ports", params={"network_id": net["id"]})
    assert len(r.json()["ports"]) == 2


async def test_concurrent_allocation_never_duplicates(client):
    net, sub = await network_with_subnet(client, cidr="10.3.0.0/28")  # 13 addresses
    results = await asyncio.gather(*[
        client.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}) for _ in range(20)])
    ok = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in results if r.status_code == 201]
    failed = [error(r) for r in results if r.status_code != 201]
    assert len(ok) == 13 and len(set(ok)) == 13
    assert failed == [(409, "IpAddressGenerationFailure")] * 7


async def test_mac_addresses(client):
    net, _ = await network_with_subnet(client)
    p = await create(client, "port", network_id=net["id"], mac_address="FA:16:3E:00:00:01")
    assert p["mac_address"] == "fa:16:3e:00:00:01"
    r = await client.post("/v2.0/ports", json={"port": {"network_id": net["id"],
                                                        "mac_address": "fa:16:3e:00:00:01"}})
    assert error(r) == (409, "MacAddressInUse")
    for bad in ("zz:16:3e:00:00:01", "01:00:5e:00:00:01", "00:00:00:00:00:00"):
        r = await client.post("/v2.0/ports", json={"port": {"network_id": net["id"],
                                                            "mac_address": bad}})
        assert r.status_code == 400, bad
    other, _ = await network_with_subnet(client, cidr="10.8.0.0/24")
    await create(client, "port", network_id=other["id"], mac_address="fa:16:3e:00:00:01")
    macs = {(await create(client, "port", network_id=net["id"]))["mac_address"] for _ in range(5)}
    assert len(macs) == 5
    # Changing the MAC is for admins, and refused while bound.
    r = await client.put(f"/v2.0/ports/{p['id']}", json={"port": {"mac_address": "fa:16:3e:00:00:02"}})
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.put(f"/v2.0/ports/{p['id']}", headers=ADMIN,
                         json={"port": {"mac_address": "fa:16:3e:00:00:02"}})
    assert r.status_code == 200 and r.json()["port"]["mac_address"] == "fa:16:3e:00:00:02"
    await client.put(f"/v2.0/ports/{p['id']}", headers=ADMIN,
                     json={"port": {"binding:host_id": "node1"}})
    r = await client.put(f"/v2.0/ports/{p['id']}", headers=ADMIN,
                         json={"port": {"mac_address": "fa:16:3e:00:00:03"}})
    assert error(r) == (409, "PortBound")


async def test_binding(client, settings):
    settings.network.physical_bridges = {"public": "br-ex"}
    flat = await create(client, "network", "admin-token", name="public", shared=True,
                        **{"provider:network_type": "flat", "provider:physical_network": "public"})
    await create(client, "subnet", "admin-token", network_id=flat["id"], cidr="172.24.4.0/24",
                 ip_version=4)
    port = await create(client, "port", "admin-token", network_id=flat["id"], device_id="vm",
                        device_owner="compute:nova", **{"binding:host_id": "node1"})
    assert port["binding:host_id"] == "node1"
    assert port["binding:vif_type"] == "bridge" and port["status"] == "ACTIVE"
    assert port["binding:vif_details"] == {"port_filter": False, "bridge_name": "br-ex"}
    assert port["binding:vnic_type"] == "normal" and port["binding:profile"] == {}
    # Unbinding (what compute does on delete) and rebinding through updates.
    r = await client.put(f"/v2.0/ports/{port['id']}", headers=ADMIN,
                         json={"port": {"binding:host_id": "", "device_id": ""}})
    unbound = r.json()["port"]
    assert (unbound["binding:vif_type"], unbound["status"], unbound["binding:vif_details"]) == \
        ("unbound", "DOWN", {})
    r = await client.put(f"/v2.0/ports/{port['id']}", headers=ADMIN,
                         json={"port": {"binding:host_id": "node2"}})
    assert r.json()["port"]["status"] == "ACTIVE"
    r = await client.put(f"/v2.0/ports/{port['id']}", headers=ADMIN,
                         json={"port": {"admin_state_up": False}})
    assert r.json()["port"]["status"] == "DOWN"
    # A tenant network gets its own brq bridge.
    net, _ = await network_with_subnet(client)
    local = await create(client, "port", "admin-token", network_id=net["id"],
                         **{"binding:host_id": "node1"})
    assert local["binding:vif_details"]["bridge_name"] == "brq" + net["id"][:11]
    # A physical network without a bridge on this host cannot be bound.
    settings.network.physical_bridges = {}
    r = await client.put(f"/v2.0/ports/{port['id']}", headers=ADMIN,
                         json={"port": {"binding:host_id": "node3"}})
    assert r.json()["port"]["binding:vif_type"] == "binding_failed"
    # Members may not bind.
    r = await client.post("/v2.0/ports", json={"port": {"network_id": net["id"],
                                                        "binding:host_id": "node1"}})
    assert error(r) == (403, "PolicyNotAuthorized")
    mine = await create(client, "port", network_id=net["id"])
    r = await client.put(f"/v2.0/ports/{mine['id']}", json={"port": {"binding:host_id": "x"}})
    assert error(r) == (403, "PolicyNotAuthorized")


async def test_update_fixed_ips(client):
    net, sub = await network_with_subnet(client, cidr="10.0.0.0/24")
    port = await create(client, "port", network_id=net["id"])
    pid = port["id"]
    r = await client.put(f"/v2.0/ports/{pid}", json={"port": {"fixed_ips": [
        {"subnet_id": sub["id"]}, {"ip_address": "10.0.0.50"}]}})
    assert r.status_code == 200, r.text
    assert [ip["ip_address"] for ip in r.json()["port"]["fixed_ips"]] == ["10.0.0.2", "10.0.0.50"]
    r = await client.put(f"/v2.0/ports/{pid}", json={"port": {"fixed_ips": [
        {"ip_address": "10.0.0.50"}]}})
    assert [ip["ip_address"] for ip in r.json()["port"]["fixed_ips"]] == ["10.0.0.50"]
    other = await create(client, "port", network_id=net["id"])
    assert other["fixed_ips"][0]["ip_address"] == "10.0.0.2"  # freed by the update
    r = await client.put(f"/v2.0/ports/{pid}", json={"port": {"fixed_ips": [
        {"ip_address": "10.0.0.2"}]}})
    assert error(r) == (409, "IpAddressAlreadyAllocated")
    r = await client.get(f"/v2.0/ports/{pid}")
    assert [ip["ip_address"] for ip in r.json()["port"]["fixed_ips"]] == ["10.0.0.50"]


async def test_update_port_fields(client, rt):
    dhcp = DhcpRecorder()
    await rt.bus.serve("dhcp_agent", dhcp)
    net, _ = await network_with_subnet(client)
    port = await create(client, "port", network_id=net["id"])
    await rt.bus.drain()
    dhcp.calls.clear()
    r = await client.put(f"/v2.0/ports/{port['id']}", json={"port": {
        "name": "web", "description": "d", "device_id": "vm-1", "device_owner": "compute:nova",
        "dns_name": "web1", "security_groups": [],
        "allowed_address_pairs": [{"ip_address": "10.0.0.100"},
                                  {"ip_address": "10.1.0.0/24", "mac_address": "fa:16:3e:aa:bb:cc"}],
        "extra_dhcp_opts": [{"opt_name": "bootfile-name", "opt_value": "pxelinux.0"}]}})
    assert r.status_code == 200, r.text
    p = r.json()["port"]
    assert (p["name"], p["device_id"], p["dns_name"], p["security_groups"]) == \
        ("web", "vm-1", "web1", [])
    assert p["allowed_address_pairs"] == [
        {"ip_address": "10.0.0.100", "mac_address": port["mac_address"]},
        {"ip_address": "10.1.0.0/24", "mac_address": "fa:16:3e:aa:bb:cc"}]
    assert p["extra_dhcp_opts"] == [{"opt_name": "bootfile-name", "opt_value": "pxelinux.0",
                                     "ip_version": 4}]
    assert p["dns_assignment"][0]["hostname"] == "web1"
    await rt.bus.drain()
    assert dhcp.calls == [("network_changed", net["id"])]
    for body in ({"network_id": net["id"]}, {"dns_name": "bad_name!"},
                 {"extra_dhcp_opts": [{"opt_value": "x"}]}, {"admin_state_up": "x"},
                 {"allowed_address_pairs": [{"mac_address": "fa:16:3e:00:00:01"}]}):
        r = await client.put(f"/v2.0/ports/{port['id']}", json={"port": body})
        assert r.status_code == 400, body
    # No DHCP subnet on the network: no notice.
    bare = await create(client, "network", name="bare")
    await create(client, "port", network_id=bare["id"])
    await rt.bus.drain()
    assert all(call[1] != bare["id"] for call in dhcp.calls)


async def test_visibility_and_shared_networks(client):
    shared = await create(client, "network", "admin-token", name="pub", shared=True)
    await create(client, "subnet", "admin-token", network_id=shared["id"], cidr="172.24.4.0/24",
                 ip_version=4)
    alt_port = await create(client, "port", "alt-token", network_id=shared["id"])
    demo_port = await create(client, "port", network_id=shared["id"])
    assert alt_port["project_id"] == ALT
    r = await client.get("/v2.0/ports")
    assert [p["id"] for p in r.json()["ports"]] == [demo_port["id"]]
    assert error(await client.get(f"/v2.0/ports/{alt_port['id']}")) == (404, "PortNotFound")
    assert error(await client.delete(f"/v2.0/ports/{alt_port['id']}")) == (404, "PortNotFound")
    r = await client.get("/v2.0/ports", headers=ADMIN)
    assert {alt_port["id"], demo_port["id"]} <= {p["id"] for p in r.json()["ports"]}
    # On someone else's network, members may not pick addresses or network:* owners.
    for body in ({"fixed_ips": [{"ip_address": "172.24.4.99"}]}, {"mac_address": "fa:16:3e:01:02:03"},
                 {"device_owner": "network:router_interface"}):
        r = await client.post("/v2.0/ports", json={"port": {"network_id": shared["id"], **body}})
        assert error(r) == (403, "PolicyNotAuthorized"), body
    # An unshared foreign network is invisible; a visible external one is not writable.
    private = await create(client, "network", "alt-token", name="alt-private")
    r = await client.post("/v2.0/ports", json={"port": {"network_id": private["id"]}})
    assert error(r) == (404, "NetworkNotFound")
    ext = await create(client, "network", "admin-token", name="ext", **{"router:external": True})
    r = await client.post("/v2.0/ports", json={"port": {"network_id": ext["id"]}})
    assert error(r) == (403, "PolicyNotAuthorized")
    # The network owner sees ports others made on it.
    mine = await create(client, "network", name="mine")
    theirs = await create(client, "port", "admin-token", network_id=mine["id"], project_id=ALT)
    r = await client.get(f"/v2.0/ports/{theirs['id']}")
    assert r.status_code == 200
    # Readers read, and only read.
    reader = as_token("reader-token")
    assert (await client.get(f"/v2.0/ports/{demo_port['id']}", headers=reader)).status_code == 200
    r = await client.put(f"/v2.0/ports/{demo_port['id']}", json={"port": {"name": "x"}},
                         headers=reader)
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.post("/v2.0/ports", json={"port": {"network_id": shared["id"]}}, headers=reader)
    assert error(r) == (403, "PolicyNotAuthorized")


async def test_port_list_filters(client, settings):
    net, sub = await network_with_subnet(client, cidr="10.0.0.0/24")
    other, _ = await network_with_subnet(client, cidr="10.1.0.0/24")
    a = await create(client, "port", "admin-token", network_id=net["id"], device_id="vm-a",
                     device_owner="compute:nova", project_id=DEMO, **{"binding:host_id": "node1"})
    b = await create(client, "port", network_id=net["id"], device_id="vm-b",
                     fixed_ips=[{"ip_address": "10.0.0.77"}])
    c = await create(client, "port", network_id=other["id"], device_owner="network:dhcp")

    async def ids(token="demo-token", **params):
        r = await client.get("/v2.0/ports", params=params, headers=as_token(token))
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()["ports"]}

    assert await ids(network_id=net["id"]) == {a["id"], b["id"]}
    assert await ids(device_id="vm-b") == {b["id"]}
    assert await ids(device_owner="network:dhcp") == {c["id"]}
    assert await ids(mac_address=a["mac_address"]) == {a["id"]}
    assert await ids(fixed_ips="ip_address=10.0.0.77") == {b["id"]}
    assert await ids(fixed_ips=f"subnet_id={sub['id']}") == {a["id"], b["id"]}
    assert await ids(fixed_ips="ip_address_substr=10.0.0.7") == {b["id"]}
    assert await ids(**{"binding:host_id": "node1"}, token="admin-token") == {a["id"]}
    assert await ids(project_id=DEMO) == {a["id"], b["id"], c["id"]}
    assert await ids(project_id=ALT) == set()
    r = await client.get("/v2.0/ports", params={"fixed_ips": "bogus=1"})
    assert r.status_code == 400
    r = await client.get("/v2.0/ports", params={"fields": ["id", "fixed_ips"],
                                                "device_id": "vm-b"})
    assert r.json()["ports"] == [{"id": b["id"], "fixed_ips": b["fixed_ips"]}]


async def test_port_create_and_delete_notify_dhcp(client, rt):
    dhcp = DhcpRecorder()
    await rt.bus.serve("dhcp_agent", dhcp)
    net, _ = await network_with_subnet(client)
    await rt.bus.drain()
    dhcp.calls.clear()
    port = await create(client, "port", network_id=net["id"])
    assert (await client.delete(f"/v2.0/ports/{port['id']}")).status_code == 204
    await rt.bus.drain()
    assert dhcp.calls == [("network_changed", net["id"])] * 2
    assert error(await client.delete(f"/v2.0/ports/{port['id']}")) == (404, "PortNotFound")
    await rt.bus.drain()
    assert len(dhcp.calls) == 2


async def test_bulk_ports_roll_back(client):
    net, _ = await network_with_subnet(client, cidr="10.0.0.0/24")
    r = await client.post("/v2.0/ports", json={"ports": [
        {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.9"}]},
        {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.9"}]}]})
    assert error(r) == (409, "IpAddressAlreadyAllocated")
    r = await client.get("/v2.0/ports", params={"network_id": net["id"]})
    assert r.json()["ports"] == []
    r = await client.post("/v2.0/ports", json={"ports": [{"network_id": net["id"]},
                                                         {"network_id": net["id"]}]})
    assert r.status_code == 201 and len(r.json()["ports"]) == 2
