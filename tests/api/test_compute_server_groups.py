"""Compute API: server groups (CRUD, microversion shapes) and group / host-hint placement."""
from __future__ import annotations

from tempest.lib.api_schema.response.compute.v2_1 import server_groups as g21
from tempest.lib.api_schema.response.compute.v2_13 import server_groups as g213
from tempest.lib.api_schema.response.compute.v2_64 import server_groups as g264
from tempest.lib.api_schema.response.compute.v2_71 import servers as s271

from tests.api.test_compute_aggregates import _server, env2  # noqa: F401  (env2 is a fixture)
from tests.api.test_compute_fakes import ALT, DEMO, mv, validate
from tests.api.test_compute_servers import server_body


async def _group(env, policy, client=None, **rules):
    body = {"name": f"g-{policy}", "policy": policy}
    if rules:
        body["rules"] = rules
    r = await (client or env.demo).post("/v2.1/os-server-groups", headers=mv("2.64"), json={"server_group": body})
    assert r.status_code == 200, r.text
    return r.json()["server_group"]["id"]


async def _boot_in(env, group, **hints):
    r = await env.demo.post("/v2.1/servers", json={**server_body(env), "os:scheduler_hints": {"group": group, **hints}}
                            if group else {**server_body(env), "os:scheduler_hints": hints})
    assert r.status_code == 202, r.text
    return await _server(env, r.json()["server"]["id"])


async def test_crud_and_shapes(env2):
    env = env2
    r = await env.demo.post("/v2.1/os-server-groups", json={"server_group": {"name": "g1", "policies": ["affinity"]}})
    validate(g21.create_show_server_group, r)
    g1 = r.json()["server_group"]
    assert g1["policies"] == ["affinity"] and g1["members"] == [] and g1["metadata"] == {}
    # soft policies from 2.15, policy + rules from 2.64
    body = {"server_group": {"name": "g2", "policies": ["soft-affinity"]}}
    assert (await env.demo.post("/v2.1/os-server-groups", json=body)).status_code == 400
    r = await env.demo.post("/v2.1/os-server-groups", json=body, headers=mv("2.15"))
    validate(g213.create_show_server_group, r)
    assert r.json()["server_group"]["project_id"] == DEMO
    for bad in ({"name": "x", "policies": ["affinity", "anti-affinity"]}, {"name": "", "policies": ["affinity"]},
                {"name": "x", "policies": ["bogus"]}, {"name": "x", "policy": "affinity"}):
        r = await env.demo.post("/v2.1/os-server-groups", json={"server_group": bad})
        assert r.status_code == 400, bad
    r = await env.demo.post("/v2.1/os-server-groups", headers=mv("2.64"), json={"server_group": {
        "name": "g3", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}})
    validate(g264.create_show_server_group, r)
    assert r.json()["server_group"]["rules"] == {"max_server_per_host": 2}
    r = await env.demo.post("/v2.1/os-server-groups", headers=mv("2.64"), json={"server_group": {
        "name": "g4", "policy": "affinity", "rules": {"max_server_per_host": 2}}})
    assert r.status_code == 400
    r = await env.demo.get(f"/v2.1/os-server-groups/{g1['id']}")
    validate(g21.create_show_server_group, r)
    r = await env.demo.get("/v2.1/os-server-groups", headers=mv("2.64"))
    validate(g264.list_server_groups, r)
    assert len(r.json()["server_groups"]) == 3
    assert len((await env.demo.get("/v2.1/os-server-groups", params={"limit": 1, "offset": 1})).json()[
        "server_groups"]) == 1
    # another project neither sees nor deletes it; all_projects is admin only
    assert (await env.alt.get(f"/v2.1/os-server-groups/{g1['id']}")).status_code == 404
    assert (await env.alt.delete(f"/v2.1/os-server-groups/{g1['id']}")).status_code == 404
    assert (await env.alt.get("/v2.1/os-server-groups")).json()["server_groups"] == []
    assert (await env.alt.get("/v2.1/os-server-groups", params={"all_projects": "1"})).status_code == 403
    r = await env.admin.get("/v2.1/os-server-groups", params={"all_projects": "1"})
    assert len(r.json()["server_groups"]) == 3
    assert (await env.demo.delete(f"/v2.1/os-server-groups/{g1['id']}")).status_code == 204
    assert (await env.demo.get(f"/v2.1/os-server-groups/{g1['id']}")).status_code == 404
    assert ALT


async def test_affinity_and_anti_affinity_placement(env2):
    env = env2
    r = await env.admin.put(f"/v2.1/os-quota-sets/{DEMO}", json={"quota_set": {"instances": -1, "cores": -1}})
    assert r.status_code == 200
    aff = await _group(env, "affinity")
    hosts = {(await _boot_in(env, aff))["OS-EXT-SRV-ATTR:host"] for _ in range(3)}
    assert len(hosts) == 1
    anti = await _group(env, "anti-affinity")
    first, second = await _boot_in(env, anti), await _boot_in(env, anti)
    assert {first["OS-EXT-SRV-ATTR:host"], second["OS-EXT-SRV-ATTR:host"]} == {"testhost", "host2"}
    third = await _boot_in(env, anti)  # two hosts, a hard policy: no valid host
    assert third["status"] == "ERROR" and "No valid host" in third["fault"]["message"]
    r = await env.demo.get(f"/v2.1/os-server-groups/{anti}")
    assert set(r.json()["server_group"]["members"]) == {first["id"], second["id"], third["id"]}
    r = await env.demo.get(f"/v2.1/servers/{first['id']}", headers=mv("2.71"))
    assert r.json()["server"]["server_groups"] == [anti]
    r = await env.demo.put(f"/v2.1/servers/{first['id']}", headers=mv("2.71"), json={"server": {"name": "n"}})
    validate(s271.update_server, r)
    assert r.json()["server"]["server_groups"] == [anti]
    # a deleted member leaves the group and frees its host
    assert (await env.demo.delete(f"/v2.1/servers/{first['id']}")).status_code == 204
    await env.rt.bus.drain()
    r = await env.demo.get(f"/v2.1/os-server-groups/{anti}")
    assert first["id"] not in r.json()["server_group"]["members"]
    fourth = await _boot_in(env, anti)
    assert fourth["status"] == "ACTIVE" and fourth["OS-EXT-SRV-ATTR:host"] == first["OS-EXT-SRV-ATTR:host"]

    # max_server_per_host 2 lets two members share a host
    wide = await _group(env, "anti-affinity", max_server_per_host=2)
    placed = [(await _boot_in(env, wide))["OS-EXT-SRV-ATTR:host"] for _ in range(4)]
    assert sorted(placed) == ["host2", "host2", "testhost", "testhost"]
    assert (await _boot_in(env, wide))["status"] == "ERROR"


async def test_soft_policies_and_host_hints(env2):
    env = env2
    soft = await _group(env, "soft-anti-affinity")
    a, b, c = [await _boot_in(env, soft) for _ in range(3)]
    assert c["status"] == "ACTIVE" and a["OS-EXT-SRV-ATTR:host"] != b["OS-EXT-SRV-ATTR:host"]
    near = await _boot_in(env, None, same_host=[a["id"]])
    assert near["OS-EXT-SRV-ATTR:host"] == a["OS-EXT-SRV-ATTR:host"]
    far = await _boot_in(env, None, different_host=a["id"])
    assert far["OS-EXT-SRV-ATTR:host"] != a["OS-EXT-SRV-ATTR:host"]
    # bad hints and unknown or foreign groups are 400
    for hints in ({"group": "not-a-uuid"}, {"same_host": ["x"]}, {"group": "6f4a3e51-5a52-4d0e-9d3a-6a4dd8f8e4b1"}):
        r = await env.demo.post("/v2.1/servers", json={**server_body(env), "os:scheduler_hints": hints})
        assert r.status_code == 400, hints
    foreign = await _group(env, "affinity", client=env.alt)
    r = await env.demo.post("/v2.1/servers", json={**server_body(env), "os:scheduler_hints": {"group": foreign}})
    assert r.status_code == 400
