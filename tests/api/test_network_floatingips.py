"""Floating IPs: allocation from the external pools, association through a router, the 1:1 rule."""
from __future__ import annotations

import asyncio

import pytest

from tests.api.test_network_routers import L3Recorder, add_if, external_net, remove_if, router
from tests.api.test_network_support import (ALT, DEMO, as_token, create, error, network_client,
                                            network_with_subnet)

ADMIN = as_token("admin-token")


@pytest.fixture
async def client(mount):
    return await network_client(mount)


async def topology(client):
    """An external network, demo's router with its gateway there and an interface on 10.0.0.0/24."""
    ext, _ = await external_net(client, allocation_pools=[{"start": "172.24.4.10",
                                                            "end": "172.24.4.250"}])
    r = await router(client, external_gateway_info={"network_id": ext["id"]})
    net, sub = await network_with_subnet(client, cidr="10.0.0.0/24")
    assert (await add_if(client, r["id"], subnet_id=sub["id"])).status_code == 200
    return ext, r, net, sub


async def fip(client, token="demo-token", **body):
    return await client.post("/v2.0/floatingips", json={"floatingip": body}, headers=as_token(token))


async def test_floatingip_lifecycle(client):
    ext, r, net, sub = await topology(client)
    p1 = await create(client, "port", network_id=net["id"])
    p2 = await create(client, "port", network_id=net["id"])
    made = await fip(client, floating_network_id=ext["id"], port_id=p1["id"])
    assert made.status_code == 201, made.text
    f = made.json()["floatingip"]
    assert f["floating_ip_address"] == "172.24.4.11"  # .10 went to the router's gateway
    assert (f["port_id"], f["fixed_ip_address"], f["router_id"], f["status"], f["project_id"]) == \
        (p1["id"], p1["fixed_ips"][0]["ip_address"], r["id"], "ACTIVE", DEMO)
    assert f["port_details"]["mac_address"] == p1["mac_address"]
    moved = await client.put(f"/v2.0/floatingips/{f['id']}", json={"floatingip": {"port_id": p2["id"]}})
    assert moved.json()["floatingip"]["fixed_ip_address"] == p2["fixed_ips"][0]["ip_address"]
    listed = (await client.get(f"/v2.0/floatingips?router_id={r['id']}")).json()["floatingips"]
    assert [x["id"] for x in listed] == [f["id"]]
    assert (await client.get("/v2.0/floatingips", headers=as_token("alt-token"))).json() == \
        {"floatingips": []}
    # the interface it goes through cannot be removed meanwhile
    assert error(await remove_if(client, r["id"], subnet_id=sub["id"])) == \
        (409, "RouterInterfaceInUseByFloatingIP")
    off = await client.put(f"/v2.0/floatingips/{f['id']}", json={"floatingip": {"port_id": None}})
    off = off.json()["floatingip"]
    assert (off["port_id"], off["fixed_ip_address"], off["router_id"], off["status"],
            off["port_details"]) == (None, None, None, "DOWN", None)
    # its address is held by a port nobody but admins sees, and only this API deletes
    held = (await client.get("/v2.0/ports?device_owner=network:floatingip", headers=ADMIN)).json()
    assert [p["fixed_ips"][0]["ip_address"] for p in held["ports"]] == ["172.24.4.11"]
    assert error(await client.delete(f"/v2.0/ports/{held['ports'][0]['id']}", headers=ADMIN)) == \
        (409, "L3PortInUse")
    assert error(await client.delete(f"/v2.0/networks/{ext['id']}", headers=ADMIN)) == \
        (409, "NetworkInUse")
    assert (await client.delete(f"/v2.0/floatingips/{f['id']}")).status_code == 204
    assert error(await client.get(f"/v2.0/floatingips/{f['id']}")) == (404, "FloatingIPNotFound")
    assert (await client.get("/v2.0/ports?device_owner=network:floatingip", headers=ADMIN)).json() \
        == {"ports": []}


async def test_deleting_the_port_disassociates(client, rt):
    ext, r, net, _ = await topology(client)
    p = await create(client, "port", network_id=net["id"])
    f = (await fip(client, floating_network_id=ext["id"], port_id=p["id"])).json()["floatingip"]
    l3 = L3Recorder()
    await rt.bus.serve("l3_agent", l3)
    assert (await client.delete(f"/v2.0/ports/{p['id']}")).status_code == 204
    shown = (await client.get(f"/v2.0/floatingips/{f['id']}")).json()["floatingip"]
    assert (shown["port_id"], shown["fixed_ip_address"], shown["router_id"], shown["status"]) == \
        (None, None, None, "DOWN")
    await rt.bus.drain()
    assert l3.calls == [("routers_updated", (r["id"],))]  # the agent drops the DNAT rules
    # a port without floating IP: no L3 notice
    other = await create(client, "port", network_id=net["id"])
    assert (await client.delete(f"/v2.0/ports/{other['id']}")).status_code == 204
    await rt.bus.drain()
    assert len(l3.calls) == 1


async def test_one_floatingip_per_fixed_ip_and_multiple_addresses(client):
    ext, _, net, sub = await topology(client)
    p = await create(client, "port", network_id=net["id"], fixed_ips=[
        {"subnet_id": sub["id"], "ip_address": "10.0.0.50"},
        {"subnet_id": sub["id"], "ip_address": "10.0.0.51"}])
    assert error(await fip(client, floating_network_id=ext["id"], port_id=p["id"])) == \
        (400, "BadRequest")
    assert error(await fip(client, floating_network_id=ext["id"], port_id=p["id"],
                           fixed_ip_address="10.0.0.99")) == (400, "BadRequest")
    first = await fip(client, floating_network_id=ext["id"], port_id=p["id"],
                      fixed_ip_address="10.0.0.50")
    assert first.status_code == 201
    again = await fip(client, floating_network_id=ext["id"], port_id=p["id"],
                      fixed_ip_address="10.0.0.50")
    assert error(again) == (409, "FloatingIPPortAlreadyAssociated")
    f = first.json()["floatingip"]
    moved = await client.put(f"/v2.0/floatingips/{f['id']}", json={"floatingip": {
        "port_id": p["id"], "fixed_ip_address": "10.0.0.51"}})
    assert moved.json()["floatingip"]["fixed_ip_address"] == "10.0.0.51"
    # a failed create left no address behind
    fips = (await client.get("/v2.0/floatingips")).json()["floatingips"]
    held = (await client.get("/v2.0/ports?device_owner=network:floatingip", headers=ADMIN)).json()
    assert len(fips) == len(held["ports"]) == 1


async def test_unreachable_and_bad_networks(client):
    ext, _, _, _ = await topology(client)
    lone, lone_sub = await network_with_subnet(client, cidr="10.7.0.0/24")
    p = await create(client, "port", network_id=lone["id"])
    assert error(await fip(client, floating_network_id=ext["id"], port_id=p["id"])) == \
        (404, "ExternalGatewayForFloatingIPNotFound")
    assert error(await fip(client, floating_network_id=lone["id"])) == (400, "BadRequest")
    assert error(await fip(client, floating_network_id=p["id"])) == (404, "NetworkNotFound")
    assert error(await fip(client)) == (400, "HTTPBadRequest")
    f = (await fip(client, floating_network_id=ext["id"])).json()["floatingip"]
    assert f["status"] == "DOWN" and f["port_id"] is None
    assoc = await client.put(f"/v2.0/floatingips/{f['id']}", json={"floatingip": {"port_id": p["id"]}})
    assert error(assoc) == (404, "ExternalGatewayForFloatingIPNotFound")
    # a router interface on that network without a gateway on ext does not make it reachable
    other = await router(client)
    assert (await add_if(client, other["id"], subnet_id=lone_sub["id"])).status_code == 200
    assoc = await client.put(f"/v2.0/floatingips/{f['id']}", json={"floatingip": {"port_id": p["id"]}})
    assert error(assoc) == (404, "ExternalGatewayForFloatingIPNotFound")
    shown = (await client.get(f"/v2.0/floatingips/{f['id']}")).json()["floatingip"]
    assert (shown["port_id"], shown["status"]) == (None, "DOWN")  # the failed update left it alone


async def test_address_choice_is_admin_only(client):
    ext, _, net, _ = await topology(client)
    assert error(await fip(client, floating_network_id=ext["id"],
                           floating_ip_address="172.24.4.100")) == (403, "PolicyNotAuthorized")
    made = await fip(client, "admin-token", floating_network_id=ext["id"],
                     floating_ip_address="172.24.4.100", project_id=ALT)
    assert made.json()["floatingip"]["floating_ip_address"] == "172.24.4.100"
    assert made.json()["floatingip"]["project_id"] == ALT
    assert error(await fip(client, "admin-token", floating_network_id=ext["id"],
                           floating_ip_address="172.24.4.100")) == (409, "IpAddressAlreadyAllocated")
    alt_ids = [x["id"] for x in (await client.get("/v2.0/floatingips",
                                                  headers=as_token("alt-token"))).json()["floatingips"]]
    assert alt_ids == [made.json()["floatingip"]["id"]]
    # alt cannot see demo's port, let alone take it
    p = await create(client, "port", network_id=net["id"])
    take = await client.put(f"/v2.0/floatingips/{alt_ids[0]}", headers=as_token("alt-token"),
                            json={"floatingip": {"port_id": p["id"]}})
    assert error(take) == (404, "PortNotFound")
    assert error(await fip(client, "reader-token", floating_network_id=ext["id"])) == \
        (403, "PolicyNotAuthorized")


async def test_deleting_the_external_network_releases_unassociated_floatingips(client):
    ext, _ = await external_net(client)
    f = (await fip(client, floating_network_id=ext["id"])).json()["floatingip"]
    assert (await client.delete(f"/v2.0/networks/{ext['id']}", headers=ADMIN)).status_code == 204
    assert error(await client.get(f"/v2.0/floatingips/{f['id']}")) == (404, "FloatingIPNotFound")
    # an associated one keeps the network in use
    ext, r, net, _ = await topology(client)
    p = await create(client, "port", network_id=net["id"])
    f = (await fip(client, floating_network_id=ext["id"], port_id=p["id"])).json()["floatingip"]
    assert error(await client.delete(f"/v2.0/networks/{ext['id']}", headers=ADMIN)) == \
        (409, "NetworkInUse")
    assert (await client.get(f"/v2.0/floatingips/{f['id']}")).status_code == 200


async def test_compute_is_told_when_a_servers_floating_ip_changes(client, rt, router):
    """Associating, moving and releasing a floating IP of a server's port sends compute
    network-changed for that server (neutron's nova notifier); other ports send nothing."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    told: list[dict] = []

    async def events(request):
        told.extend((await request.json())["events"])
        return JSONResponse({"events": []})

    router.add(rt.settings.endpoint("compute"),
               Starlette(routes=[Route("/v2.1/os-server-external-events", events, methods=["POST"])]))
    ext, r, net, sub = await topology(client)
    vm = await create(client, "port", network_id=net["id"], device_id="vm-1",
                      device_owner="compute:nova")
    other = await create(client, "port", network_id=net["id"])
    f = (await fip(client, floating_network_id=ext["id"], port_id=vm["id"])).json()["floatingip"]
    await client.put(f"/v2.0/floatingips/{f['id']}", json={"floatingip": {"port_id": other["id"]}})
    await client.put(f"/v2.0/floatingips/{f['id']}", json={"floatingip": {"description": "x"}})
    await client.put(f"/v2.0/floatingips/{f['id']}", json={"floatingip": {"port_id": vm["id"]}})
    await client.delete(f"/v2.0/floatingips/{f['id']}")
    for _ in range(100):  # sent in the background after each change
        if len(told) >= 4:
            break
        await asyncio.sleep(0.05)
    changed = {"name": "network-changed", "server_uuid": "vm-1", "tag": vm["id"]}
    assert told == [changed] * 4  # create, moved off, moved back, released; not the description


async def test_l3_agent_reports_floating_ip_states(client, rt):
    ext, r, net, sub = await topology(client)
    p1 = await create(client, "port", network_id=net["id"])
    f = (await fip(client, floating_network_id=ext["id"], port_id=p1["id"])).json()["floatingip"]
    loose = (await fip(client, floating_network_id=ext["id"])).json()["floatingip"]

    async def report(router_id, **statuses):
        return await rt.bus.call("network_server", "update_floatingip_statuses", router_id=router_id,
                                 statuses=statuses)

    assert await report(r["id"], **{f["id"]: "DOWN"}) == 1
    assert (await client.get(f"/v2.0/floatingips/{f['id']}")).json()["floatingip"]["status"] == "DOWN"
    assert await report(r["id"], **{f["id"]: "DOWN"}) == 0  # no change
    assert await report("other-router", **{f["id"]: "ACTIVE"}) == 0  # not that router's
    assert await report(r["id"], **{loose["id"]: "ACTIVE", f["id"]: "BROKEN"}) == 0
    assert await report(r["id"], **{f["id"]: "ACTIVE"}) == 1
