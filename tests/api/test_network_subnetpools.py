"""Subnet pools, address scopes, allocation of subnets from pools, tags on every taggable
collection, service providers and the extension aliases that announce them."""
from __future__ import annotations

import pytest

from tests.api.test_network_support import ALT, DEMO, as_token, create, error, network_client

ADMIN_H, ALT_H, READER_H = as_token("admin-token"), as_token("alt-token"), as_token("reader-token")


@pytest.fixture
async def client(mount):
    return await network_client(mount)


async def pool(client, token="demo-token", **body) -> dict:
    body.setdefault("name", "pool")
    r = await client.post("/v2.0/subnetpools", json={"subnetpool": body}, headers=as_token(token))
    assert r.status_code == 201, r.text
    return r.json()["subnetpool"]


async def pooled_subnet(client, net_id: str, token="demo-token", **body):
    return await client.post("/v2.0/subnets", headers=as_token(token),
                             json={"subnet": {"network_id": net_id, **body}})


async def test_pool_defaults_and_merged_prefixes(client):
    p = await pool(client, prefixes=["10.10.0.0/25", "10.10.0.128/25", "10.20.3.4/16"])
    assert p["prefixes"] == ["10.10.0.0/24", "10.20.0.0/16"]
    assert (p["ip_version"], p["min_prefixlen"], p["max_prefixlen"], p["default_prefixlen"]) == \
        (4, 8, 32, 8)
    assert p["project_id"] == p["tenant_id"] == DEMO
    assert p["shared"] is False and p["is_default"] is False and p["address_scope_id"] is None
    assert p["default_quota"] is None and p["revision_number"] == 0 and p["tags"] == []
    v6 = await pool(client, prefixes=["2001:db8::/48"])
    assert (v6["ip_version"], v6["min_prefixlen"], v6["max_prefixlen"]) == (6, 64, 128)
    r = await client.get("/v2.0/subnetpools", params={"ip_version": 6})
    assert [x["id"] for x in r.json()["subnetpools"]] == [v6["id"]]


@pytest.mark.parametrize("body, status", [
    ({"prefixes": []}, 400),
    ({"prefixes": ["nonsense"]}, 400),
    ({"prefixes": ["10.0.0.0/8", "2001:db8::/32"]}, 400),
    ({"prefixes": ["10.0.0.0/8"], "min_prefixlen": 24, "max_prefixlen": 16}, 400),
    ({"prefixes": ["10.0.0.0/8"], "default_prefixlen": 30, "max_prefixlen": 28}, 400),
    ({"prefixes": ["10.0.0.0/8"], "max_prefixlen": 33}, 400),
    ({"prefixes": ["10.0.0.0/8"], "ip_version": 4}, 400),
    ({"name": "no prefixes"}, 400),
    ({"prefixes": ["10.0.0.0/8"], "shared": True}, 403),
    ({"prefixes": ["10.0.0.0/8"], "is_default": True}, 403),
])
async def test_pool_bad_create(client, body, status):
    r = await client.post("/v2.0/subnetpools", json={"subnetpool": body})
    assert r.status_code == status, r.text
    assert error(r)[0] == status


async def test_pool_crud_visibility_and_in_use(client):
    p = await pool(client, prefixes=["10.30.0.0/16"], min_prefixlen=24, default_prefixlen=24)
    assert (await client.get(f"/v2.0/subnetpools/{p['id']}", headers=READER_H)).status_code == 200
    assert error(await client.get(f"/v2.0/subnetpools/{p['id']}", headers=ALT_H)) == \
        (404, "SubnetPoolNotFound")
    assert (await client.get("/v2.0/subnetpools", headers=ALT_H)).json()["subnetpools"] == []
    r = await client.put(f"/v2.0/subnetpools/{p['id']}", json={"subnetpool": {"name": "x"}},
                         headers=READER_H)
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.put(f"/v2.0/subnetpools/{p['id']}", json={"subnetpool": {"name": "renamed"}})
    assert r.json()["subnetpool"]["name"] == "renamed" and r.json()["subnetpool"]["revision_number"] == 1
    # shared is fixed at creation; an admin shares a pool that then everybody sees
    r = await client.put(f"/v2.0/subnetpools/{p['id']}", json={"subnetpool": {"shared": True}})
    assert r.status_code == 400
    shared = await pool(client, "admin-token", prefixes=["10.31.0.0/16"], shared=True)
    assert (await client.get(f"/v2.0/subnetpools/{shared['id']}", headers=ALT_H)).status_code == 200
    net = await create(client, "network", name="n")
    sub = (await pooled_subnet(client, net["id"], subnetpool_id=p["id"], ip_version=4)).json()["subnet"]
    r = await client.delete(f"/v2.0/subnetpools/{p['id']}")
    assert error(r) == (409, "SubnetPoolInUse")
    assert (await client.delete(f"/v2.0/subnets/{sub['id']}")).status_code == 204
    assert (await client.delete(f"/v2.0/subnetpools/{p['id']}")).status_code == 204
    assert error(await client.get(f"/v2.0/subnetpools/{p['id']}")) == (404, "SubnetPoolNotFound")


async def test_subnets_carved_from_a_pool(client):
    p = await pool(client, prefixes=["10.40.0.0/22"], min_prefixlen=23, max_prefixlen=26,
                   default_prefixlen=24)
    net = await create(client, "network", name="n")
    other = await create(client, "network", name="m")
    first = (await pooled_subnet(client, net["id"], subnetpool_id=p["id"])).json()["subnet"]
    assert (first["cidr"], first["subnetpool_id"], first["ip_version"]) == ("10.40.0.0/24", p["id"], 4)
    assert first["gateway_ip"] == "10.40.0.1"
    # no overlap across networks of the same pool; a smaller block goes into the smallest hole
    second = (await pooled_subnet(client, other["id"], subnetpool_id=p["id"], prefixlen=26)).json()
    assert second["subnet"]["cidr"] == "10.40.1.0/26"
    third = (await pooled_subnet(client, other["id"], subnetpool_id=p["id"], prefixlen=23)).json()
    assert third["subnet"]["cidr"] == "10.40.2.0/23"
    # an explicit free CIDR in the pool is honoured; a taken one or one outside is refused
    r = await pooled_subnet(client, net["id"], subnetpool_id=p["id"], cidr="10.40.1.128/26")
    assert r.status_code == 201 and r.json()["subnet"]["cidr"] == "10.40.1.128/26"
    r = await pooled_subnet(client, other["id"], subnetpool_id=p["id"], cidr="10.40.0.0/24")
    assert error(r) == (409, "SubnetAllocationError")
    r = await pooled_subnet(client, other["id"], subnetpool_id=p["id"], cidr="10.99.0.0/24")
    assert error(r)[0] == 400
    # prefix length out of bounds, wrong IP version, then a full pool
    for body in ({"prefixlen": 22}, {"prefixlen": 27}, {"ip_version": 6}):
        r = await pooled_subnet(client, other["id"], subnetpool_id=p["id"], **body)
        assert error(r)[0] == 400, body
    r = await pooled_subnet(client, other["id"], subnetpool_id=p["id"], prefixlen=24)
    assert error(r) == (409, "SubnetAllocationError")
    # no cidr and no pool; an invisible pool
    assert error(await pooled_subnet(client, net["id"], ip_version=4))[0] == 400
    alt_pool = await pool(client, "alt-token", prefixes=["10.50.0.0/16"])
    r = await pooled_subnet(client, net["id"], subnetpool_id=alt_pool["id"])
    assert error(r) == (404, "SubnetPoolNotFound")
    # a failed allocation left nothing behind
    subnets = (await client.get("/v2.0/subnets")).json()["subnets"]
    assert sorted(s["cidr"] for s in subnets) == ["10.40.0.0/24", "10.40.1.0/26",
                                                  "10.40.1.128/26", "10.40.2.0/23"]


async def test_default_pool_and_quota(client):
    net = await create(client, "network", name="n")
    r = await pooled_subnet(client, net["id"], use_default_subnetpool=True, ip_version=4)
    assert error(r)[0] == 400  # no default pool yet
    d = await pool(client, "admin-token", prefixes=["10.60.0.0/16"], is_default=True, shared=True,
                   default_prefixlen=28, min_prefixlen=24, default_quota=32)
    r = await client.post("/v2.0/subnetpools", headers=ADMIN_H, json={"subnetpool": {
        "name": "second", "prefixes": ["10.61.0.0/16"], "is_default": True}})
    assert error(r)[0] == 400  # one default per IP family
    r = await pooled_subnet(client, net["id"], use_default_subnetpool=True, ip_version=4)
    assert r.status_code == 201 and r.json()["subnet"]["subnetpool_id"] == d["id"]
    assert r.json()["subnet"]["cidr"] == "10.60.0.0/28"
    r = await pooled_subnet(client, net["id"], use_default_subnetpool=True, ip_version=4)
    assert r.json()["subnet"]["cidr"] == "10.60.0.16/28"
    r = await pooled_subnet(client, net["id"], use_default_subnetpool=True, ip_version=4)
    assert error(r) == (409, "SubnetPoolQuotaExceeded")  # 16 + 16 addresses used of 32
    # the quota is per project: alt still has room
    alt_net = await create(client, "network", "alt-token", name="a")
    r = await pooled_subnet(client, alt_net["id"], "alt-token", subnetpool_id=d["id"])
    assert r.status_code == 201, r.text


async def test_prefixes_only_grow_and_prefix_ops(client):
    p = await pool(client, prefixes=["10.70.0.0/24"], min_prefixlen=24)
    url = f"/v2.0/subnetpools/{p['id']}"
    r = await client.put(url, json={"subnetpool": {"prefixes": ["10.71.0.0/24"]}})
    assert error(r) == (400, "IllegalSubnetPoolPrefixUpdate")
    r = await client.put(url, json={"subnetpool": {"prefixes": ["10.70.0.0/23", "10.72.0.0/24"]}})
    assert r.json()["subnetpool"]["prefixes"] == ["10.70.0.0/23", "10.72.0.0/24"]
    r = await client.put(url + "/add_prefixes", json={"prefixes": ["10.72.1.0/24"]})
    assert r.status_code == 200 and r.json() == {"prefixes": ["10.70.0.0/23", "10.72.0.0/23"]}
    net = await create(client, "network", name="n")
    sub = (await pooled_subnet(client, net["id"], subnetpool_id=p["id"], cidr="10.72.1.0/24")).json()
    assert sub["subnet"]["cidr"] == "10.72.1.0/24"
    r = await client.put(url + "/remove_prefixes", json={"prefixes": ["10.72.0.0/23"]})
    assert error(r) == (409, "SubnetPoolInUse")
    r = await client.put(url + "/remove_prefixes", json={"prefixes": ["10.72.0.0/24"]})
    assert r.json() == {"prefixes": ["10.70.0.0/23", "10.72.1.0/24"]}
    r = await client.put(url + "/remove_prefixes", json={"prefix": ["10.72.0.0/24"]})
    assert error(r)[0] == 400
    r = await client.put(url + "/add_prefixes", json={"prefixes": ["2001:db8::/64"]})
    assert error(r)[0] == 400
    r = await client.put(url + "/add_prefixes", json={"prefixes": ["10.9.0.0/24"]}, headers=READER_H)
    assert error(r) == (403, "PolicyNotAuthorized")


async def test_address_scopes(client):
    r = await client.post("/v2.0/address-scopes", json={"address_scope": {"name": "s", "ip_version": 4}})
    assert r.status_code == 201
    scope = r.json()["address_scope"]
    assert (scope["ip_version"], scope["shared"], scope["project_id"]) == (4, False, DEMO)
    r = await client.post("/v2.0/address-scopes", json={"address_scope": {"name": "s"}})
    assert error(r)[0] == 400
    r = await client.post("/v2.0/address-scopes",
                          json={"address_scope": {"ip_version": 4, "shared": True}})
    assert error(r) == (403, "PolicyNotAuthorized")
    assert error(await client.get(f"/v2.0/address-scopes/{scope['id']}", headers=ALT_H)) == \
        (404, "AddressScopeNotFound")
    a = await pool(client, prefixes=["10.80.0.0/16"], address_scope_id=scope["id"])
    assert a["address_scope_id"] == scope["id"]
    r = await client.post("/v2.0/subnetpools", json={"subnetpool": {
        "prefixes": ["10.80.128.0/17"], "address_scope_id": scope["id"]}})
    assert error(r) == (409, "AddressScopePrefixConflict")
    r = await client.post("/v2.0/subnetpools", json={"subnetpool": {
        "prefixes": ["2001:db8::/48"], "address_scope_id": scope["id"]}})
    assert error(r) == (400, "IllegalSubnetPoolAssociationToAddressScope")
    b = await pool(client, prefixes=["10.80.0.0/16"])  # outside the scope, overlap is fine
    r = await client.put(f"/v2.0/subnetpools/{b['id']}",
                         json={"subnetpool": {"address_scope_id": scope["id"]}})
    assert error(r) == (409, "AddressScopePrefixConflict")
    r = await client.delete(f"/v2.0/address-scopes/{scope['id']}")
    assert error(r) == (409, "AddressScopeInUse")
    r = await client.put(f"/v2.0/subnetpools/{a['id']}", json={"subnetpool": {"address_scope_id": None}})
    assert r.json()["subnetpool"]["address_scope_id"] is None
    r = await client.put(f"/v2.0/address-scopes/{scope['id']}", json={"address_scope": {"name": "t"}})
    assert r.json()["address_scope"]["name"] == "t"
    r = await client.put(f"/v2.0/address-scopes/{scope['id']}",
                         json={"address_scope": {"shared": True}})
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.put(f"/v2.0/address-scopes/{scope['id']}", headers=ADMIN_H,
                         json={"address_scope": {"shared": True}})
    assert r.json()["address_scope"]["shared"] is True
    assert (await client.get(f"/v2.0/address-scopes/{scope['id']}", headers=ALT_H)).status_code == 200
    r = await client.put(f"/v2.0/address-scopes/{scope['id']}", headers=ADMIN_H,
                         json={"address_scope": {"shared": False}})
    assert error(r) == (400, "AddressScopeUpdateError")
    assert (await client.delete(f"/v2.0/address-scopes/{scope['id']}")).status_code == 204


async def _taggables(client) -> dict:
    net = await create(client, "network", name="n")
    sub = await create(client, "subnet", network_id=net["id"], cidr="10.90.0.0/24", ip_version=4)
    port = await create(client, "port", network_id=net["id"])
    router = await create(client, "router", name="r")
    group = (await client.post("/v2.0/security-groups",
                               json={"security_group": {"name": "g"}})).json()["security_group"]
    p = await pool(client, prefixes=["10.91.0.0/16"])
    scope = (await client.post("/v2.0/address-scopes", json={"address_scope": {
        "name": "s", "ip_version": 4}})).json()["address_scope"]
    return {"networks": net, "subnets": sub, "ports": port, "routers": router,
            "security-groups": group, "subnetpools": p, "address-scopes": scope}


async def test_tags_on_every_collection(client):
    objs = await _taggables(client)
    for coll, obj in objs.items():
        base = f"/v2.0/{coll}/{obj['id']}/tags"
        assert (await client.put(f"{base}/red")).status_code == 201, coll
        assert (await client.get(f"{base}/red")).status_code == 204
        assert error(await client.get(f"{base}/blue")) == (404, "TagNotFound")
        r = await client.put(base, json={"tags": ["a", "b", "a"]})
        assert r.status_code == 200 and r.json() == {"tags": ["a", "b"]}, coll
        assert (await client.get(base, headers=READER_H)).json() == {"tags": ["a", "b"]}
        assert error(await client.put(f"{base}/c", headers=READER_H)) == (403, "PolicyNotAuthorized")
        assert error(await client.get(base, headers=ALT_H))[0] == 404
        assert (await client.delete(f"{base}/a")).status_code == 204
        assert error(await client.delete(f"{base}/a")) == (404, "TagNotFound")
        path = coll.replace("-", "_")
        listed = (await client.get(f"/v2.0/{coll}", params={"tags": "b"})).json()[path]
        assert [x["id"] for x in listed] == [obj["id"]], coll
        others = (await client.get(f"/v2.0/{coll}", params={"not-tags-any": "b"})).json()[path]
        assert obj["id"] not in [x["id"] for x in others], coll
        assert (await client.delete(base)).status_code == 204
        assert (await client.get(base)).json() == {"tags": []}
    r = await client.put(f"/v2.0/subnetpools/{objs['subnetpools']['id']}/tags",
                         json={"tags": [f"t{i}" for i in range(51)]})
    assert error(r)[0] == 400
    assert (await client.get("/v2.0/subnetpools/nope/tags")).status_code == 404


async def test_tags_at_create_and_filters(client):
    a = await pool(client, prefixes=["10.95.0.0/16"], tags=["x", "y"])
    b = await pool(client, prefixes=["10.96.0.0/16"], tags=["y"])
    ids = lambda r: sorted(p["id"] for p in r.json()["subnetpools"])  # noqa: E731
    assert ids(await client.get("/v2.0/subnetpools", params={"tags": "x,y"})) == [a["id"]]
    assert ids(await client.get("/v2.0/subnetpools", params={"tags-any": "x,y"})) == \
        sorted([a["id"], b["id"]])
    assert ids(await client.get("/v2.0/subnetpools", params={"not-tags": "x,y"})) == [b["id"]]
    assert ids(await client.get("/v2.0/subnetpools", params={"not-tags-any": "x"})) == [b["id"]]


async def test_service_providers_and_extensions(client):
    r = await client.get("/v2.0/service-providers", headers=READER_H)
    assert r.status_code == 200
    assert r.json() == {"service_providers": [
        {"service_type": "L3_ROUTER_NAT", "name": "kumo", "default": True}]}
    r = await client.get("/v2.0/service-providers", params={"service_type": "LOADBALANCERV2"})
    assert r.json() == {"service_providers": []}
    aliases = {e["alias"] for e in (await client.get("/v2.0/extensions")).json()["extensions"]}
    assert {"subnet_allocation", "default-subnetpools", "subnetpool-prefix-ops", "address-scope",
            "tag", "tag-ext", "standard-attr-tag", "service-type"} <= aliases


async def test_alt_uses_shared_pool_bulk_undo(client):
    shared = await pool(client, "admin-token", prefixes=["10.97.0.0/24"], shared=True,
                        min_prefixlen=25, default_prefixlen=25)
    net = await create(client, "network", "alt-token", name="a")
    body = {"subnets": [{"network_id": net["id"], "subnetpool_id": shared["id"]}] * 3}
    r = await client.post("/v2.0/subnets", json=body, headers=ALT_H)
    assert error(r) == (409, "SubnetAllocationError")  # the third does not fit: all undone
    assert (await client.get("/v2.0/subnets", headers=ALT_H)).json()["subnets"] == []
    body["subnets"] = body["subnets"][:2]
    r = await client.post("/v2.0/subnets", json=body, headers=ALT_H)
    assert sorted(s["cidr"] for s in r.json()["subnets"]) == ["10.97.0.0/25", "10.97.0.128/25"]
    assert all(s["project_id"] == ALT for s in r.json()["subnets"])
    # deleting the network frees the pool's space
    assert (await client.delete(f"/v2.0/networks/{net['id']}", headers=ALT_H)).status_code == 204
    assert (await client.delete(f"/v2.0/subnetpools/{shared['id']}", headers=ADMIN_H)).status_code == 204


async def test_network_address_scope_follows_its_pools(client):
    scope = (await client.post("/v2.0/address-scopes", json={"address_scope": {
        "name": "s", "ip_version": 4}})).json()["address_scope"]
    scoped = await pool(client, prefixes=["10.110.0.0/16"], default_prefixlen=24,
                        address_scope_id=scope["id"])
    plain = await pool(client, prefixes=["10.111.0.0/16"], default_prefixlen=24)
    net = await create(client, "network", name="n")
    r = await pooled_subnet(client, net["id"], subnetpool_id=scoped["id"])
    assert r.status_code == 201
    shown = (await client.get(f"/v2.0/networks/{net['id']}")).json()["network"]
    assert (shown["ipv4_address_scope"], shown["ipv6_address_scope"]) == (scope["id"], None)
    listed = (await client.get("/v2.0/networks", params={"ipv4_address_scope": scope["id"]})).json()
    assert [n["id"] for n in listed["networks"]] == [net["id"]]
    # a second IPv4 subnet outside the scope: the network no longer has one IPv4 scope
    assert (await pooled_subnet(client, net["id"], subnetpool_id=plain["id"])).status_code == 201
    shown = (await client.get(f"/v2.0/networks/{net['id']}")).json()["network"]
    assert shown["ipv4_address_scope"] is None
