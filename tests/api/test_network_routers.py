"""Routers: gateway (ext-gw-mode), interfaces, static routes, deletes that must wait, L3 notices."""
from __future__ import annotations

import pytest

from tests.api.test_network_support import (DEMO, as_token, create, error, network_client,
                                            network_with_subnet)

ADMIN = as_token("admin-token")


class L3Recorder:
    """Stands in for the L3 agents on bus topic ``l3_agent``."""

    def __init__(self):
        self.calls: list[tuple] = []

    async def routers_updated(self, router_ids: list) -> None:
        self.calls.append(("routers_updated", tuple(router_ids)))

    async def router_deleted(self, router_id: str) -> None:
        self.calls.append(("router_deleted", router_id))


@pytest.fixture
async def client(mount):
    return await network_client(mount)


async def external_net(client, cidr="172.24.4.0/24", **pools) -> tuple[dict, dict]:
    return await network_with_subnet(client, "admin-token", cidr=cidr, net={"router:external": True},
                                      enable_dhcp=False, **pools)


async def router(client, token="demo-token", **body) -> dict:
    r = await client.post("/v2.0/routers", json={"router": body}, headers=as_token(token))
    assert r.status_code == 201, r.text
    return r.json()["router"]


async def add_if(client, router_id, token="demo-token", **body):
    return await client.put(f"/v2.0/routers/{router_id}/add_router_interface", json=body,
                            headers=as_token(token))


async def remove_if(client, router_id, token="demo-token", **body):
    return await client.put(f"/v2.0/routers/{router_id}/remove_router_interface", json=body,
                            headers=as_token(token))


async def test_router_crud_and_gateway(client):
    ext, ext_sub = await external_net(client)
    r = await router(client, name="r1", admin_state_up=False,
                     external_gateway_info={"network_id": ext["id"]})
    assert (r["name"], r["admin_state_up"], r["status"], r["project_id"], r["routes"]) == \
        ("r1", False, "ACTIVE", DEMO, [])
    gw = r["external_gateway_info"]
    assert gw["network_id"] == ext["id"] and gw["enable_snat"] is True
    assert gw["external_fixed_ips"] == [{"subnet_id": ext_sub["id"], "ip_address": "172.24.4.2"}]
    ports = (await client.get(f"/v2.0/ports?device_id={r['id']}&device_owner=network:router_gateway",
                              headers=ADMIN)).json()["ports"]
    assert len(ports) == 1 and ports[0]["project_id"] == ""
    # the gateway port is not the project's to see or delete
    assert (await client.get("/v2.0/ports")).json()["ports"] == []
    assert error(await client.delete(f"/v2.0/ports/{ports[0]['id']}", headers=ADMIN)) == \
        (409, "L3PortInUse")
    r2 = (await client.put(f"/v2.0/routers/{r['id']}", json={"router": {"name": "r2"}})).json()
    assert r2["router"]["name"] == "r2"
    listed = (await client.get("/v2.0/routers?name=r2")).json()["routers"]
    assert [x["id"] for x in listed] == [r["id"]]
    assert listed[0]["external_gateway_info"]["network_id"] == ext["id"]
    assert (await client.get("/v2.0/routers", headers=as_token("alt-token"))).json()["routers"] == []
    r3 = await client.put(f"/v2.0/routers/{r['id']}", json={"router": {"external_gateway_info": {}}})
    assert r3.json()["router"]["external_gateway_info"] is None
    assert (await client.get(f"/v2.0/ports?device_id={r['id']}", headers=ADMIN)).json()["ports"] == []
    assert (await client.delete(f"/v2.0/routers/{r['id']}")).status_code == 204
    assert error(await client.get(f"/v2.0/routers/{r['id']}")) == (404, "RouterNotFound")


async def test_enable_snat_and_fixed_ips_are_admin_only(client):
    ext, ext_sub = await external_net(client)
    r = await client.post("/v2.0/routers", json={"router": {"external_gateway_info": {
        "network_id": ext["id"], "enable_snat": False}}})
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await router(client, "admin-token", external_gateway_info={
        "network_id": ext["id"], "enable_snat": False,
        "external_fixed_ips": [{"subnet_id": ext_sub["id"], "ip_address": "172.24.4.77"}]})
    assert r["external_gateway_info"]["enable_snat"] is False
    assert r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == "172.24.4.77"
    # the address is taken now
    r2 = await client.post("/v2.0/routers", headers=ADMIN, json={"router": {"external_gateway_info": {
        "network_id": ext["id"], "external_fixed_ips": [{"ip_address": "172.24.4.77"}]}}})
    assert error(r2) == (409, "IpAddressAlreadyAllocated")
    assert len((await client.get("/v2.0/routers", headers=ADMIN)).json()["routers"]) == 1


async def test_gateway_errors(client):
    r = await router(client)
    private, _ = await network_with_subnet(client)
    bad = await client.put(f"/v2.0/routers/{r['id']}", json={"router": {
        "external_gateway_info": {"network_id": private["id"]}}})
    assert error(bad) == (400, "BadRequest")
    missing = await client.put(f"/v2.0/routers/{r['id']}", json={"router": {
        "external_gateway_info": {"network_id": r["id"]}}})
    assert error(missing) == (404, "NetworkNotFound")
    junk = await client.put(f"/v2.0/routers/{r['id']}", json={"router": {
        "external_gateway_info": {"enable_snat": True}}})
    assert error(junk)[0] == 400
    assert error(await client.post("/v2.0/routers", json={"router": {"name": "x"}},
                                   headers=as_token("reader-token"))) == (403, "PolicyNotAuthorized")


async def test_interfaces_by_subnet_and_port(client):
    r = await router(client)
    net, sub = await network_with_subnet(client, cidr="10.0.0.0/24")
    added = await add_if(client, r["id"], subnet_id=sub["id"])
    assert added.status_code == 200, added.text
    info = added.json()
    assert info["subnet_id"] == sub["id"] and info["subnet_ids"] == [sub["id"]]
    assert info["network_id"] == net["id"] and info["id"] == r["id"]
    port = (await client.get(f"/v2.0/ports/{info['port_id']}")).json()["port"]
    assert port["device_id"] == r["id"] and port["device_owner"] == "network:router_interface"
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.0.0.1"}]
    listed = (await client.get("/v2.0/ports?device_owner=network:router_interface")).json()["ports"]
    assert [p["id"] for p in listed] == [info["port_id"]]
    # same subnet again, or an overlapping one: 400
    assert error(await add_if(client, r["id"], subnet_id=sub["id"])) == (400, "BadRequest")
    _, sub2 = await network_with_subnet(client, cidr="10.0.0.0/25")
    assert error(await add_if(client, r["id"], subnet_id=sub2["id"])) == (400, "BadRequest")
    # by port
    net3, sub3 = await network_with_subnet(client, cidr="10.3.0.0/24")
    p3 = await create(client, "port", network_id=net3["id"])
    info3 = (await add_if(client, r["id"], port_id=p3["id"])).json()
    assert info3["port_id"] == p3["id"] and info3["subnet_id"] == sub3["id"]
    assert error(await add_if(client, r["id"], port_id=p3["id"])) == (409, "PortInUse")
    assert error(await add_if(client, r["id"], port_id=p3["id"], subnet_id=sub3["id"]))[0] == 400
    assert error(await add_if(client, r["id"])) == (400, "BadRequest")
    # in use: no delete of the router, its subnet, its network or its port
    assert error(await client.delete(f"/v2.0/routers/{r['id']}")) == (409, "RouterInUse")
    assert error(await client.delete(f"/v2.0/subnets/{sub['id']}")) == (409, "SubnetInUse")
    assert error(await client.delete(f"/v2.0/networks/{net['id']}")) == (409, "NetworkInUse")
    assert error(await client.delete(f"/v2.0/ports/{p3['id']}")) == (409, "L3PortInUse")
    # remove
    assert error(await remove_if(client, r["id"], port_id=p3["id"], subnet_id=sub["id"])) == \
        (404, "RouterInterfaceNotFoundForSubnet")
    assert (await remove_if(client, r["id"], port_id=p3["id"])).json()["port_id"] == p3["id"]
    assert (await client.get(f"/v2.0/ports/{p3['id']}")).status_code == 404
    assert (await remove_if(client, r["id"], subnet_id=sub["id"])).json()["port_id"] == info["port_id"]
    assert error(await remove_if(client, r["id"], subnet_id=sub["id"])) == \
        (404, "RouterInterfaceNotFoundForSubnet")
    assert error(await remove_if(client, r["id"], port_id=p3["id"])) == (404, "RouterInterfaceNotFound")
    assert (await client.delete(f"/v2.0/routers/{r['id']}")).status_code == 204
    assert (await client.delete(f"/v2.0/networks/{net['id']}")).status_code == 204


async def test_interface_needs_gateway_ip_and_visible_router(client):
    r = await router(client)
    _, sub = await network_with_subnet(client, cidr="10.9.0.0/24", gateway_ip=None)
    assert error(await add_if(client, r["id"], subnet_id=sub["id"])) == (400, "BadRequest")
    _, alt_sub = await network_with_subnet(client, "alt-token", cidr="10.8.0.0/24")
    assert error(await add_if(client, r["id"], "alt-token", subnet_id=alt_sub["id"])) == \
        (404, "RouterNotFound")
    assert error(await add_if(client, r["id"], subnet_id=alt_sub["id"])) == (404, "SubnetNotFound")
    assert error(await add_if(client, r["id"], "reader-token", subnet_id=sub["id"])) == \
        (403, "PolicyNotAuthorized")


async def test_static_routes(client):
    r = await router(client)
    _, sub = await network_with_subnet(client, cidr="10.0.0.0/24")
    assert (await add_if(client, r["id"], subnet_id=sub["id"])).status_code == 200
    routes = [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.5"}]
    bad = await client.put(f"/v2.0/routers/{r['id']}", json={"router": {"routes": [
        {"destination": "192.168.0.0/16", "nexthop": "10.1.0.5"}]}})
    assert error(bad) == (400, "InvalidRoutes")
    own = await client.put(f"/v2.0/routers/{r['id']}", json={"router": {"routes": [
        {"destination": "192.168.0.0/16", "nexthop": "10.0.0.1"}]}})
    assert error(own) == (400, "InvalidRoutes")
    ok = await client.put(f"/v2.0/routers/{r['id']}", json={"router": {"routes": routes}})
    assert ok.json()["router"]["routes"] == routes
    assert error(await remove_if(client, r["id"], subnet_id=sub["id"])) == \
        (409, "RouterInterfaceInUseByRoute")
    cleared = await client.put(f"/v2.0/routers/{r['id']}", json={"router": {"routes": None}})
    assert cleared.json()["router"]["routes"] == []
    assert (await remove_if(client, r["id"], subnet_id=sub["id"])).status_code == 200


async def test_admin_creates_router_for_a_project_and_extensions_listed(client):
    r = await router(client, "admin-token", project_id=DEMO)
    assert r["project_id"] == DEMO
    assert [x["id"] for x in (await client.get("/v2.0/routers")).json()["routers"]] == [r["id"]]
    aliases = {e["alias"] for e in (await client.get("/v2.0/extensions")).json()["extensions"]}
    assert {"router", "ext-gw-mode", "extraroute", "fip-port-details"} <= aliases


async def test_l3_agents_hear_of_changes(client, rt):
    l3 = L3Recorder()
    await rt.bus.serve("l3_agent", l3)
    r = await router(client)
    _, sub = await network_with_subnet(client, cidr="10.0.0.0/24")
    await add_if(client, r["id"], subnet_id=sub["id"])
    await remove_if(client, r["id"], subnet_id=sub["id"])
    await client.delete(f"/v2.0/routers/{r['id']}")
    await rt.bus.drain()
    assert l3.calls == [("routers_updated", (r["id"],))] * 3 + [("router_deleted", r["id"])]
