"""Compute API: quota sets (per project and per user), quota classes, enforcement on create."""
from __future__ import annotations

import asyncio

from tempest.lib.api_schema.response.compute.v2_1 import quota_classes as qc21
from tempest.lib.api_schema.response.compute.v2_1 import quotas as q21
from tempest.lib.api_schema.response.compute.v2_57 import quota_classes as qc257
from tempest.lib.api_schema.response.compute.v2_57 import quotas as q257

from tests.api.test_compute_fakes import ALT, DEMO, SSH_KEY, mv, validate
from tests.api.test_compute_servers import env, server_body  # noqa: F401  (env is a fixture)


async def _set(env, project, params=None, **values):
    r = await env.admin.put(f"/v2.1/os-quota-sets/{project}", params=params or {}, json={"quota_set": values})
    assert r.status_code == 200, r.text
    return r


async def test_update_show_delete(env):
    r = await env.demo.put(f"/v2.1/os-quota-sets/{DEMO}", json={"quota_set": {"ram": 1}})
    assert r.status_code == 403
    r = await _set(env, ALT, ram="5120", cores=4)
    validate(q21.update_quota_set, r)
    assert r.json()["quota_set"]["ram"] == 5120 and "id" not in r.json()["quota_set"]
    r = await env.admin.get(f"/v2.1/os-quota-sets/{ALT}/detail")
    validate(q21.get_quota_set_details, r)
    assert r.json()["quota_set"]["ram"]["limit"] == 5120
    # per-user limits: at most the project's
    r = await env.admin.put(f"/v2.1/os-quota-sets/{ALT}", params={"user_id": "u1"}, json={"quota_set": {"ram": 9999}})
    assert r.status_code == 400
    await _set(env, ALT, {"user_id": "u1"}, ram=2048)
    r = await env.admin.get(f"/v2.1/os-quota-sets/{ALT}", params={"user_id": "u1"})
    assert r.json()["quota_set"]["ram"] == 2048
    assert (await env.admin.get(f"/v2.1/os-quota-sets/{ALT}")).json()["quota_set"]["ram"] == 5120
    for bad in ({"ram": -2}, {"ram": "many"}, {"bogus": 1}, {"ram": True}):
        r = await env.admin.put(f"/v2.1/os-quota-sets/{ALT}", json={"quota_set": bad})
        assert r.status_code == 400, bad
    # 2.57 drops the personality resources
    r = await env.admin.put(f"/v2.1/os-quota-sets/{ALT}", headers=mv("2.57"),
                            json={"quota_set": {"injected_files": 3}})
    assert r.status_code == 400
    r = await env.admin.put(f"/v2.1/os-quota-sets/{ALT}", headers=mv("2.57"), json={"quota_set": {"instances": 7}})
    validate(q257.update_quota_set, r)
    assert (await env.demo.delete(f"/v2.1/os-quota-sets/{ALT}")).status_code == 403
    assert (await env.admin.delete(f"/v2.1/os-quota-sets/{ALT}")).status_code == 202
    r = await env.admin.get(f"/v2.1/os-quota-sets/{ALT}")
    assert (r.json()["quota_set"]["ram"], r.json()["quota_set"]["instances"]) == (51200, 10)


async def test_quota_classes(env):
    r = await env.admin.get("/v2.1/os-quota-class-sets/default")
    validate(qc21.get_quota_class_set, r)
    assert r.json()["quota_class_set"]["id"] == "default"
    assert (await env.demo.put("/v2.1/os-quota-class-sets/default",
                               json={"quota_class_set": {"instances": 1}})).status_code == 403
    r = await env.admin.put("/v2.1/os-quota-class-sets/default", json={"quota_class_set": {"instances": 3}})
    validate(qc21.update_quota_class_set, r)
    assert r.json()["quota_class_set"]["instances"] == 3
    # the default class is every project's default
    r = await env.demo.get(f"/v2.1/os-quota-sets/{DEMO}/defaults")
    assert r.json()["quota_set"]["instances"] == 3
    assert (await env.demo.get(f"/v2.1/os-quota-sets/{DEMO}")).json()["quota_set"]["instances"] == 3
    assert (await env.demo.get("/v2.1/limits")).json()["limits"]["absolute"]["maxTotalInstances"] == 3
    validate(qc257.get_quota_class_set, await env.admin.get("/v2.1/os-quota-class-sets/default",
                                                            headers=mv("2.57")))


async def test_enforcement_on_create(env):
    await _set(env, DEMO, cores=0)
    r = await env.demo.post("/v2.1/servers", json=server_body(env))
    assert r.status_code == 403 and "Quota exceeded for cores" in r.json()["forbidden"]["message"]
    await _set(env, DEMO, cores=20, ram=256)
    r = await env.demo.post("/v2.1/servers", json=server_body(env))
    assert r.status_code == 403 and "ram" in r.json()["forbidden"]["message"]
    await _set(env, DEMO, ram=-1, instances=2)
    # min_count over the quota fails, max_count is cut down to what fits
    r = await env.demo.post("/v2.1/servers", json=server_body(env, min_count=3))
    assert r.status_code == 403 and "instances" in r.json()["forbidden"]["message"]
    r = await env.demo.post("/v2.1/servers", json=server_body(env, max_count=5, return_reservation_id=True))
    assert r.status_code == 202
    await env.rt.bus.drain()
    assert len((await env.demo.get("/v2.1/servers")).json()["servers"]) == 2
    await _set(env, DEMO, metadata_items=1)
    r = await env.demo.post("/v2.1/servers", json=server_body(env, metadata={"a": "1", "b": "2"}))
    assert r.status_code == 403
    # lowering under the usage needs force
    r = await env.admin.put(f"/v2.1/os-quota-sets/{DEMO}", json={"quota_set": {"instances": 1}})
    assert r.status_code == 400
    await _set(env, DEMO, instances=1, force=True)
    r = await env.demo.get(f"/v2.1/os-quota-sets/{DEMO}/detail")
    assert r.json()["quota_set"]["instances"] == {"limit": 1, "in_use": 2, "reserved": 0}


async def test_concurrent_creates_do_not_overcommit(env):
    await _set(env, DEMO, instances=3)
    results = await asyncio.gather(*[env.demo.post("/v2.1/servers", json=server_body(env)) for _ in range(8)])
    codes = sorted(r.status_code for r in results)
    assert codes == [202] * 3 + [403] * 5
    await env.rt.bus.drain()
    r = await env.demo.get(f"/v2.1/os-quota-sets/{DEMO}/detail")
    assert r.json()["quota_set"]["instances"]["in_use"] == 3


async def test_key_pair_and_server_group_quotas(env):
    await _set(env, DEMO, key_pairs=1, server_groups=1, server_group_members=1)
    r = await env.demo.post("/v2.1/os-keypairs", json={"keypair": {"name": "k1", "public_key": SSH_KEY}})
    assert r.status_code == 200
    r = await env.demo.post("/v2.1/os-keypairs", json={"keypair": {"name": "k2", "public_key": SSH_KEY}})
    assert r.status_code == 403 and "too many key pairs" in r.text
    body = {"server_group": {"name": "g", "policies": ["anti-affinity"]}}
    r = await env.demo.post("/v2.1/os-server-groups", json=body)
    assert r.status_code == 200
    group = r.json()["server_group"]["id"]
    assert (await env.demo.post("/v2.1/os-server-groups", json=body)).status_code == 403
    limits = (await env.demo.get("/v2.1/limits")).json()["limits"]["absolute"]
    assert (limits["maxServerGroups"], limits["totalServerGroupsUsed"]) == (1, 1)
    hints = {"os:scheduler_hints": {"group": group}}
    r = await env.demo.post("/v2.1/servers", json={**server_body(env), **hints})
    assert r.status_code == 202
    r = await env.demo.post("/v2.1/servers", json={**server_body(env), **hints})
    assert r.status_code == 403 and "too many servers in group" in r.text
    await env.rt.bus.drain()
    assert len((await env.demo.get("/v2.1/servers")).json()["servers"]) == 1
