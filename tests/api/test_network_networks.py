"""Networks: discovery, CRUD, provider attributes, visibility, listing, tags, errors."""
from __future__ import annotations

import re

import pytest

from kumo.network.api import component
from tests.api.test_network_support import (ADMIN, ALT, DEMO, DhcpRecorder, as_token, create, error,
                                            network_client, network_with_subnet)

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NETWORK_FIELDS = {
    "id", "name", "tenant_id", "project_id", "status", "admin_state_up", "shared", "router:external",
    "subnets", "mtu", "availability_zones", "availability_zone_hints", "ipv4_address_scope",
    "ipv6_address_scope", "port_security_enabled", "description", "tags", "created_at", "updated_at",
    "revision_number", "is_default", "l2_adjacency"}
PROVIDER = {"provider:network_type", "provider:physical_network", "provider:segmentation_id"}


@pytest.fixture
async def client(mount):
    return await network_client(mount)


async def test_versions_are_public_and_resources_need_a_token(mount):
    anon = await mount(component, token=None)
    r = await anon.get("/")
    assert r.status_code == 200
    assert r.json() == {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"href": "http://127.0.0.1:9696/v2.0/", "rel": "self"}]}]}
    r = await anon.get("/v2.0/networks")
    assert r.status_code == 401
    assert error(r) == (401, "Unauthorized")
    r = await anon.get("/v2.0/", headers=as_token("reader-token"))
    names = {x["name"]: x["collection"] for x in r.json()["resources"]}
    assert {"network": "networks", "subnet": "subnets", "port": "ports"}.items() <= names.items()


async def test_extensions_list_only_what_is_implemented(client):
    r = await client.get("/v2.0/extensions")
    assert r.status_code == 200
    exts = {e["alias"]: e for e in r.json()["extensions"]}
    assert {"binding", "external-net", "provider", "extra_dhcp_opt", "agent", "net-mtu",
            "standard-attr-tag"} <= set(exts)
    for absent in ("qos", "dns-integration"):
        assert absent not in exts
    assert set(exts["binding"]) == {"alias", "name", "description", "updated", "links"}
    assert exts["provider"]["links"] == []
    r = await client.get("/v2.0/extensions/external-net")
    assert r.json()["extension"]["name"] == "Neutron external network"
    r = await client.get("/v2.0/extensions/qos")
    assert r.status_code == 404 and error(r)[0] == 404


async def test_create_network_defaults(client):
    r = await client.post("/v2.0/networks", json={"network": {"name": "private"}})
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    assert set(net) == NETWORK_FIELDS  # provider:* only for admins
    assert net["name"] == "private" and net["status"] == "ACTIVE"
    assert net["tenant_id"] == net["project_id"] == DEMO
    assert (net["admin_state_up"], net["shared"], net["router:external"]) == (True, False, False)
    assert net["subnets"] == [] and net["mtu"] == 1450 and net["tags"] == []  # vxlan
    assert net["availability_zones"] == [] and net["availability_zone_hints"] == []
    assert net["ipv4_address_scope"] is None and net["is_default"] is False
    assert net["l2_adjacency"] is True and net["port_security_enabled"] is True
    assert STAMP.match(net["created_at"]) and net["revision_number"] == 0
    r = await client.get(f"/v2.0/networks/{net['id']}", headers=as_token("admin-token"))
    assert r.json()["network"]["provider:network_type"] == "vxlan"
    assert r.json()["network"]["provider:physical_network"] is None
    assert r.json()["network"]["provider:segmentation_id"] == 1


async def test_update_and_delete_network(client):
    net = await create(client, "network", name="a")
    r = await client.put(f"/v2.0/networks/{net['id']}", json={"network": {
        "name": "b", "description": "d", "admin_state_up": False, "mtu": 1400}})
    assert r.status_code == 200, r.text
    updated = r.json()["network"]
    assert (updated["name"], updated["description"], updated["admin_state_up"], updated["mtu"]) == \
        ("b", "d", False, 1400)
    assert updated["revision_number"] == net["revision_number"] + 1
    r = await client.put(f"/v2.0/networks/{net['id']}", json={"network": {"mtu": 9000}})
    assert error(r) == (400, "InvalidInput")
    r = await client.put(f"/v2.0/networks/{net['id']}", json={"network": {"id": "x"}})
    assert error(r) == (400, "HTTPBadRequest")
    assert (await client.delete(f"/v2.0/networks/{net['id']}")).status_code == 204
    r = await client.get(f"/v2.0/networks/{net['id']}")
    assert error(r) == (404, "NetworkNotFound")
    assert r.json()["NeutronError"]["message"] == f"Network {net['id']} could not be found."


async def test_bad_bodies_are_400(client):
    cases = [
        {"network": {"name": "x", "bogus": 1}},
        {"network": {"admin_state_up": "maybe"}},
        {"network": {"name": 5}},
        {"network": {"name": "x" * 256}},
        {"network": {"id": "abc"}},
        {"network": "x"},
        {"nope": {}},
    ]
    for body in cases:
        r = await client.post("/v2.0/networks", json=body)
        assert r.status_code == 400, (body, r.text)
        error(r)
    r = await client.post("/v2.0/networks", content=b"{not json")
    assert r.status_code == 400
    r = await client.post("/v2.0/networks", json={"network": {"tenant_id": DEMO, "project_id": ALT}})
    assert r.status_code == 400


async def test_admin_only_attributes(client):
    for attr in ({"shared": True}, {"router:external": True},
                 {"provider:network_type": "flat", "provider:physical_network": "public"}):
        r = await client.post("/v2.0/networks", json={"network": attr})
        assert error(r) == (403, "PolicyNotAuthorized"), attr
    r = await client.post("/v2.0/networks", json={"network": {"shared": False}})
    assert r.status_code == 201  # the default value needs no privilege
    r = await client.post("/v2.0/networks", json={"network": {"project_id": ALT}})
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.post("/v2.0/networks", json={"network": {"project_id": ALT}},
                          headers=as_token("admin-token"))
    assert r.status_code == 201 and r.json()["network"]["project_id"] == ALT


async def test_provider_networks(client, settings):
    admin = as_token("admin-token")
    settings.network.physical_bridges = {"public": "br-ex", "data": "br-data"}
    net = await create(client, "network", "admin-token", name="public", shared=True,
                       **{"router:external": True, "provider:network_type": "flat",
                          "provider:physical_network": "public"})
    assert (net["provider:network_type"], net["provider:physical_network"],
            net["provider:segmentation_id"], net["mtu"]) == ("flat", "public", None, 1500)
    r = await client.post("/v2.0/networks", headers=admin, json={"network": {
        "provider:network_type": "flat", "provider:physical_network": "public"}})
    assert error(r) == (409, "FlatNetworkInUse")
    bad = [{"provider:network_type": "flat"},
           {"provider:network_type": "flat", "provider:physical_network": "nowhere"},
           {"provider:network_type": "flat", "provider:physical_network": "data",
            "provider:segmentation_id": 5},
           {"provider:network_type": "vxlan", "provider:physical_network": "data"},
           {"provider:network_type": "vlan", "provider:physical_network": "data",
            "provider:segmentation_id": 5000},
           {"provider:physical_network": "data"},
           {"provider:network_type": "local", "provider:segmentation_id": 3}]
    for attrs in bad:
        r = await client.post("/v2.0/networks", headers=admin, json={"network": attrs})
        assert r.status_code == 400, (attrs, r.text)
    vlan = await create(client, "network", "admin-token", **{
        "provider:network_type": "vlan", "provider:physical_network": "data",
        "provider:segmentation_id": 100})
    assert vlan["provider:segmentation_id"] == 100
    r = await client.post("/v2.0/networks", headers=admin, json={"network": {
        "provider:network_type": "vlan", "provider:physical_network": "data",
        "provider:segmentation_id": 100}})
    assert error(r) == (409, "VlanIdInUse")
    auto = await create(client, "network", "admin-token", **{
        "provider:network_type": "vlan", "provider:physical_network": "data"})
    assert auto["provider:segmentation_id"] == 1
    r = await client.put(f"/v2.0/networks/{vlan['id']}", headers=admin,
                         json={"network": {"provider:segmentation_id": 101}})
    assert error(r) == (400, "InvalidInput")
    # The demo project sees the shared external network, without provider details.
    r = await client.get(f"/v2.0/networks/{net['id']}")
    assert r.status_code == 200 and not PROVIDER & set(r.json()["network"])


async def test_projects_are_isolated(client):
    mine = await create(client, "network", name="mine")
    theirs = await create(client, "network", "alt-token", name="theirs")
    alt = as_token("alt-token")
    r = await client.get("/v2.0/networks")
    assert [n["id"] for n in r.json()["networks"]] == [mine["id"]]
    for method in ("get", "delete"):
        r = await getattr(client, method)(f"/v2.0/networks/{theirs['id']}")
        assert error(r) == (404, "NetworkNotFound")
    r = await client.put(f"/v2.0/networks/{theirs['id']}", json={"network": {"name": "x"}})
    assert error(r) == (404, "NetworkNotFound")
    r = await client.get("/v2.0/networks", headers=as_token("admin-token"))
    assert {mine["id"], theirs["id"]} <= {n["id"] for n in r.json()["networks"]}
    r = await client.get("/v2.0/networks", headers=alt)
    assert [n["id"] for n in r.json()["networks"]] == [theirs["id"]]


async def test_shared_network_is_visible_but_not_writable(client):
    shared = await create(client, "network", "admin-token", name="pub", shared=True)
    r = await client.get("/v2.0/networks", headers=as_token("alt-token"))
    assert shared["id"] in [n["id"] for n in r.json()["networks"]]
    r = await client.put(f"/v2.0/networks/{shared['id']}", json={"network": {"name": "x"}},
                         headers=as_token("alt-token"))
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.delete(f"/v2.0/networks/{shared['id']}", headers=as_token("alt-token"))
    assert error(r) == (403, "PolicyNotAuthorized")
    # Unsharing while another project has a port there is refused.
    await create(client, "port", "alt-token", network_id=shared["id"])
    r = await client.put(f"/v2.0/networks/{shared['id']}", json={"network": {"shared": False}},
                         headers=as_token("admin-token"))
    assert error(r) == (409, "InvalidSharedSetting")


async def test_reader_cannot_write(client):
    net = await create(client, "network", name="n")
    reader = as_token("reader-token")
    r = await client.get(f"/v2.0/networks/{net['id']}", headers=reader)
    assert r.status_code == 200
    r = await client.post("/v2.0/networks", json={"network": {"name": "r"}}, headers=reader)
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.put(f"/v2.0/networks/{net['id']}", json={"network": {"name": "r"}},
                         headers=reader)
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.delete(f"/v2.0/networks/{net['id']}", headers=reader)
    assert error(r) == (403, "PolicyNotAuthorized")


async def test_list_filters_fields_and_sorting(client):
    admin = as_token("admin-token")
    a = await create(client, "network", name="alpha", description="x")
    b = await create(client, "network", name="beta", admin_state_up=False)
    ext = await create(client, "network", "admin-token", name="ext", **{"router:external": True})
    r = await client.get("/v2.0/networks", params={"name": "alpha"})
    assert [n["id"] for n in r.json()["networks"]] == [a["id"]]
    r = await client.get("/v2.0/networks", params=[("name", "alpha"), ("name", "beta")])
    assert {n["id"] for n in r.json()["networks"]} == {a["id"], b["id"]}
    r = await client.get("/v2.0/networks", params={"admin_state_up": "False"})
    assert [n["id"] for n in r.json()["networks"]] == [b["id"]]
    r = await client.get("/v2.0/networks", params={"router:external": "true"})
    assert [n["id"] for n in r.json()["networks"]] == [ext["id"]]
    r = await client.get("/v2.0/networks", params={"tenant_id": DEMO, "status": "ACTIVE"})
    assert {n["id"] for n in r.json()["networks"]} == {a["id"], b["id"]}
    r = await client.get("/v2.0/networks", params={"project_id": ADMIN}, headers=admin)
    assert [n["id"] for n in r.json()["networks"]] == [ext["id"]]
    r = await client.get("/v2.0/networks", params={"provider:network_type": "vxlan"}, headers=admin)
    assert len(r.json()["networks"]) == 3
    r = await client.get("/v2.0/networks", params={"id": b["id"]})
    assert [n["name"] for n in r.json()["networks"]] == ["beta"]
    r = await client.get("/v2.0/networks", params=[("fields", "id"), ("fields", "name")])
    assert all(set(n) == {"id", "name"} for n in r.json()["networks"])
    r = await client.get(f"/v2.0/networks/{a['id']}", params={"fields": "mtu"})
    assert r.json() == {"network": {"mtu": 1450}}
    r = await client.get("/v2.0/networks", params={"sort_key": "name", "sort_dir": "desc"})
    assert [n["name"] for n in r.json()["networks"]] == ["ext", "beta", "alpha"]
    r = await client.get("/v2.0/networks", params={"bogus": "1"})
    assert error(r) == (400, "HTTPBadRequest")
    r = await client.get("/v2.0/networks", params={"sort_key": "bogus"})
    assert r.status_code == 400


async def test_pagination_with_links(client):
    ids = sorted([(await create(client, "network", name=f"n{i}"))["id"] for i in range(5)])
    r = await client.get("/v2.0/networks", params={"limit": 2})
    body = r.json()
    assert [n["id"] for n in body["networks"]] == ids[:2]
    nxt = [link for link in body["networks_links"] if link["rel"] == "next"]
    assert nxt and f"marker={ids[1]}" in nxt[0]["href"] and "limit=2" in nxt[0]["href"]
    seen = list(ids[:2])
    href = nxt[0]["href"]
    while href:
        body = (await client.get(href)).json()
        seen += [n["id"] for n in body["networks"]]
        href = next((link["href"] for link in body["networks_links"] if link["rel"] == "next"), None)
        assert any(link["rel"] == "previous" for link in body["networks_links"])
    assert seen == ids
    r = await client.get("/v2.0/networks", params={"limit": 2, "marker": ids[4],
                                                  "page_reverse": "True"})
    assert [n["id"] for n in r.json()["networks"]] == ids[2:4]
    r = await client.get("/v2.0/networks", params={"marker": "nope"})
    assert r.status_code == 400
    r = await client.get("/v2.0/networks", params={"limit": "x"})
    assert r.status_code == 400
    r = await client.get("/v2.0/networks")
    assert "networks_links" not in r.json()


async def test_bulk_create_is_all_or_nothing(client):
    r = await client.post("/v2.0/networks", json={"networks": [{"name": "b1"}, {"name": "b2"}]})
    assert r.status_code == 201
    assert [n["name"] for n in r.json()["networks"]] == ["b1", "b2"]
    r = await client.post("/v2.0/networks", json={"networks": [{"name": "b3"}, {"shared": True}]})
    assert error(r) == (403, "PolicyNotAuthorized")
    names = {n["name"] for n in (await client.get("/v2.0/networks")).json()["networks"]}
    assert names == {"b1", "b2"}


async def test_tags(client):
    net = await create(client, "network", name="t", tags=["red"])
    assert net["tags"] == ["red"]
    base = f"/v2.0/networks/{net['id']}/tags"
    r = await client.put(base, json={"tags": ["a", "b"]})
    assert r.status_code == 200 and r.json() == {"tags": ["a", "b"]}
    assert (await client.put(base + "/c")).status_code == 201
    assert (await client.get(base + "/c")).status_code == 204
    assert error(await client.get(base + "/zzz")) == (404, "TagNotFound")
    assert (await client.delete(base + "/a")).status_code == 204
    assert error(await client.delete(base + "/a")) == (404, "TagNotFound")
    r = await client.get(base)
    assert r.json() == {"tags": ["b", "c"]}
    other = await create(client, "network", name="u", tags=["c"])
    r = await client.get("/v2.0/networks", params={"tags": "b,c"})
    assert [n["id"] for n in r.json()["networks"]] == [net["id"]]
    r = await client.get("/v2.0/networks", params={"tags-any": "c"})
    assert {n["id"] for n in r.json()["networks"]} == {net["id"], other["id"]}
    r = await client.get("/v2.0/networks", params={"not-tags": "b"})
    assert [n["id"] for n in r.json()["networks"]] == [other["id"]]
    assert (await client.delete(base)).status_code == 204
    assert (await client.get(f"/v2.0/networks/{net['id']}")).json()["network"]["tags"] == []
    r = await client.put(base, json={"tags": ["x"]}, headers=as_token("reader-token"))
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.put(base, json={"tags": ["x"]}, headers=as_token("alt-token"))
    assert error(r) == (404, "NetworkNotFound")


async def test_delete_removes_subnets_and_dhcp_port_and_notifies(client, rt):
    dhcp = DhcpRecorder()
    await rt.bus.serve("dhcp_agent", dhcp)
    net, sub = await network_with_subnet(client)
    await create(client, "port", "admin-token", network_id=net["id"], device_owner="network:dhcp",
                 device_id="dhcp-x")
    vm = await create(client, "port", network_id=net["id"], device_owner="compute:nova")
    r = await client.delete(f"/v2.0/networks/{net['id']}")
    assert error(r) == (409, "NetworkInUse")
    assert (await client.delete(f"/v2.0/ports/{vm['id']}")).status_code == 204
    assert (await client.delete(f"/v2.0/networks/{net['id']}")).status_code == 204
    assert error(await client.get(f"/v2.0/subnets/{sub['id']}")) == (404, "SubnetNotFound")
    r = await client.get("/v2.0/ports", params={"network_id": net["id"]},
                         headers=as_token("admin-token"))
    assert r.json()["ports"] == []
    await rt.bus.drain()
    assert dhcp.calls[-1] == ("network_deleted", net["id"])
    assert ("network_changed", net["id"]) in dhcp.calls


async def test_unknown_route_and_method_use_neutron_errors(client):
    r = await client.get("/v2.0/no-such-collection")
    assert r.status_code == 404 and "NeutronError" in r.json()
    r = await client.patch("/v2.0/networks")
    assert r.status_code == 405 and "NeutronError" in r.json()
