"""Compute API: server lifecycle, validation, scheduling, visibility."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
import pytest
from tempest.lib.api_schema.response.compute.v2_1 import servers as s21
from tempest.lib.api_schema.response.compute.v2_19 import servers as s219
from tempest.lib.api_schema.response.compute.v2_47 import servers as s247
from tempest.lib.api_schema.response.compute.v2_75 import servers as s275
from tempest.lib.api_schema.response.compute.v2_79 import servers as s279

from kumo.compute import api as compute_api
from kumo.compute import scheduler
from kumo.compute.models import open_database
from kumo.compute.scheduler.manager import Scheduler
from tests.api.test_compute_fakes import ADMIN, ALT, DEMO, SSH_KEY, FakeCloud, fake_agent, mv, user_data, validate


async def make_env(rt, router, mount, cloud, with_scheduler=True, **agent_kw):
    demo = await mount(compute_api.component)
    if with_scheduler:
        await mount(scheduler.component)
    agent = (await mount(fake_agent(cloud, **agent_kw))).agent
    base = str(demo.base_url)
    clients = [httpx.AsyncClient(transport=router, base_url=base, headers={"X-Auth-Token": t}, timeout=30)
               for t in ("admin-token", "alt-token", "reader-token")]
    env = SimpleNamespace(demo=demo, admin=clients[0], alt=clients[1], reader=clients[2], cloud=cloud,
                          agent=agent, rt=rt, clients=clients)
    r = await env.admin.post("/v2.1/flavors", json={"flavor": {"name": "m1.tiny", "id": "1", "ram": 512,
                                                                "vcpus": 1, "disk": 1}})
    assert r.status_code == 200, r.text
    r = await env.admin.post("/v2.1/flavors", json={"flavor": {"name": "m1.huge", "id": "9", "ram": 8192,
                                                                "vcpus": 2, "disk": 1}})
    assert r.status_code == 200, r.text
    env.image = cloud.add_image()
    env.net = cloud.add_network("private")
    return env


@pytest.fixture
async def env(rt, router, mount):
    cloud = FakeCloud()
    cloud.mount(rt, router)
    env = await make_env(rt, router, mount, cloud)
    yield env
    for c in env.clients:
        await c.aclose()


def server_body(env, **kw):
    body = {"name": "vm one", "imageRef": env.image, "flavorRef": "1", "networks": [{"uuid": env.net}]}
    body.update(kw)
    return {"server": body}


async def boot(env, client=None, **kw):
    r = await (client or env.demo).post("/v2.1/servers", json=server_body(env, **kw))
    assert r.status_code == 202, r.text
    return r.json()["server"]["id"]


async def test_boot_lifecycle(env):
    r = await env.demo.post("/v2.1/os-keypairs", json={"keypair": {"name": "k1", "public_key": SSH_KEY}})
    assert r.status_code == 200
    r = await env.demo.post("/v2.1/servers", json=server_body(
        env, key_name="k1", user_data=user_data("#!/bin/sh\necho hi\n"), metadata={"role": "web"}))
    validate(s21.create_server_with_admin_pass, r)
    server_id = r.json()["server"]["id"]
    assert r.headers["location"].endswith(f"/v2.1/servers/{server_id}")
    await env.rt.bus.drain()
    assert env.agent.built == [server_id]

    r = await env.demo.get(f"/v2.1/servers/{server_id}")
    validate(s21.get_server, r)
    server = r.json()["server"]
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-STS:vm_state"] == "active" and server["OS-EXT-STS:power_state"] == 1
    assert server["addresses"] == {"private": [{"version": 4, "addr": "10.0.0.10", "OS-EXT-IPS:type": "fixed",
                                                "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:00"}]}
    assert server["key_name"] == "k1" and server["metadata"] == {"role": "web"}
    assert server["tenant_id"] == DEMO and server["hostId"] and server["OS-SRV-USG:launched_at"]
    assert "OS-EXT-SRV-ATTR:host" not in server  # admin only
    assert server["flavor"]["id"] == "1"

    r = await env.admin.get(f"/v2.1/servers/{server_id}", headers=mv("2.79"))
    validate(s279.get_server, r)
    admin_view = r.json()["server"]
    assert admin_view["OS-EXT-SRV-ATTR:host"] == "testhost"
    assert admin_view["OS-EXT-SRV-ATTR:hostname"] == "vm-one"
    assert admin_view["OS-EXT-SRV-ATTR:instance_name"].startswith("instance-")
    assert admin_view["host_status"] == "UP"
    assert admin_view["flavor"] == {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                                    "original_name": "m1.tiny", "extra_specs": {}}
    r = await env.demo.get("/v2.1/servers/detail", headers=mv("2.47"))
    validate(s247.list_servers_detail, r)
    r = await env.demo.get("/v2.1/servers/detail", headers=mv("2.79"))
    validate(s279.list_servers_detail, r)
    r = await env.demo.get(f"/v2.1/servers/{server_id}/ips")
    assert r.json() == {"addresses": {"private": [{"version": 4, "addr": "10.0.0.10"}]}}

    r = await env.demo.delete(f"/v2.1/servers/{server_id}")
    assert r.status_code == 204
    await env.rt.bus.drain()
    assert env.agent.terminated == [server_id]
    assert (await env.demo.get(f"/v2.1/servers/{server_id}")).status_code == 404
    r = await env.demo.get("/v2.1/servers")
    validate(s21.list_servers, r)
    assert r.json()["servers"] == []


async def test_no_valid_host_when_flavor_too_big(env):
    server_id = await boot(env, flavorRef="9")
    await env.rt.bus.drain()
    server = (await env.demo.get(f"/v2.1/servers/{server_id}")).json()["server"]
    assert server["status"] == "ERROR"
    assert server["fault"]["code"] == 500
    assert server["fault"]["message"] == "No valid host was found. There are not enough hosts available."
    assert "details" not in server["fault"]
    admin_fault = (await env.admin.get(f"/v2.1/servers/{server_id}")).json()["server"]["fault"]
    assert "RamFilter removed 1" in admin_fault["details"]
    assert env.agent.built == []
    # never scheduled: deleted at once, without the agent
    assert (await env.demo.delete(f"/v2.1/servers/{server_id}")).status_code == 204
    assert (await env.demo.get(f"/v2.1/servers/{server_id}")).status_code == 404
    assert env.agent.terminated == []


class GatedScheduler:
    """The real scheduler behind a gate, so queued casts all run at once when it opens."""

    def __init__(self, rt):
        self.inner = Scheduler(open_database(rt.settings.database_url("compute")), rt.bus, rt.settings)
        self.gate = asyncio.Event()

    async def schedule_instance(self, instance_id):
        await self.gate.wait()
        await self.inner.schedule_instance(instance_id)


async def test_concurrent_boots_never_overcommit(rt, router, mount):
    cloud = FakeCloud()
    cloud.mount(rt, router)
    # (1280 - 512 reserved) * 1.5 = 1152 MiB claimable: two 512 MiB servers fit, not three.
    env = await make_env(rt, router, mount, cloud, with_scheduler=False, memory_mb=1280)
    gated = GatedScheduler(rt)
    await rt.bus.serve("scheduler", gated)
    try:
        results = await asyncio.gather(*[env.demo.post("/v2.1/servers", json=server_body(env, name=f"c{i}"))
                                         for i in range(5)])
        assert [r.status_code for r in results] == [202] * 5
        gated.gate.set()  # five schedule_instance run concurrently from here
        await rt.bus.drain()
        servers = (await env.demo.get("/v2.1/servers/detail")).json()["servers"]
        statuses = sorted(s["status"] for s in servers)
        assert statuses == ["ACTIVE", "ACTIVE", "ERROR", "ERROR", "ERROR"]
        hyp = (await env.admin.get("/v2.1/os-hypervisors/detail")).json()["hypervisors"][0]
        assert hyp["memory_mb_used"] == 512 + 2 * 512 and hyp["running_vms"] == 2
    finally:
        await rt.bus.unserve(gated)
        await gated.inner.db.close()
        for c in env.clients:
            await c.aclose()


@pytest.mark.parametrize("change, message", [
    ({"flavorRef": "404"}, "Flavor 404 could not be found."),
    ({"imageRef": "7c1ae8a4-8a8b-4a4e-9c51-ffffffffffff"},
     "Image 7c1ae8a4-8a8b-4a4e-9c51-ffffffffffff could not be found."),
    ({"networks": [{"uuid": "7c1ae8a4-8a8b-4a4e-9c51-eeeeeeeeeeee"}]},
     "Network 7c1ae8a4-8a8b-4a4e-9c51-eeeeeeeeeeee could not be found."),
    ({"key_name": "nope"}, "Invalid key_name provided."),
    ({"availability_zone": "mars"}, "The requested availability zone is not available"),
])
async def test_bad_references_are_400(env, change, message):
    r = await env.demo.post("/v2.1/servers", json=server_body(env, **change))
    assert r.status_code == 400
    assert r.json() == {"badRequest": {"code": 400, "message": message}}
    assert (await env.demo.get("/v2.1/servers")).json()["servers"] == []


async def test_invalid_bodies_are_400(env):
    cases = [
        {"server": {"name": "x", "flavorRef": "1", "networks": "none"}},  # no imageRef
        server_body(env, user_data="not base64!"),
        server_body(env, name=""),
        server_body(env, bogus=1),
        server_body(env, networks=[{"uuid": "not-a-uuid"}]),
        server_body(env, min_count=2, max_count=1),
    ]
    for body in cases:
        r = await env.demo.post("/v2.1/servers", json=body)
        assert r.status_code == 400, body
        assert "badRequest" in r.json()
    body = server_body(env)
    del body["server"]["networks"]
    r = await env.demo.post("/v2.1/servers", json=body, headers=mv("2.37"))
    assert r.status_code == 400 and "networks" in r.json()["badRequest"]["message"]
    r = await env.demo.post("/v2.1/servers", content=b"{not json")
    assert r.status_code == 400


async def test_image_checks(env):
    queued = env.cloud.add_image(status="queued")
    r = await env.demo.post("/v2.1/servers", json=server_body(env, imageRef=queued))
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == f"Image {queued} is not active."
    private = env.cloud.add_image(owner=ALT, visibility="private")
    r = await env.demo.post("/v2.1/servers", json=server_body(env, imageRef=private))
    assert r.json()["badRequest"]["message"] == f"Image {private} could not be found."
    big = env.cloud.add_image(size=2 * 1024 ** 3)
    r = await env.demo.post("/v2.1/servers", json=server_body(env, imageRef=big))
    assert r.status_code == 400 and "Flavor's disk is too small" in r.json()["badRequest"]["message"]


async def test_network_selection(env):
    # networks omitted (2.1) or "auto" (2.37+): the only visible network is used
    body = server_body(env)
    del body["server"]["networks"]
    r = await env.demo.post("/v2.1/servers", json=body)
    assert r.status_code == 202
    body["server"]["networks"] = "auto"
    r = await env.demo.post("/v2.1/servers", json=body, headers=mv("2.37"))
    assert r.status_code == 202
    await env.rt.bus.drain()
    servers = (await env.demo.get("/v2.1/servers/detail")).json()["servers"]
    assert [list(s["addresses"]) for s in servers] == [["private"], ["private"]]
    # another project's network is invisible; a shared one is usable
    alt_net = env.cloud.add_network("alt-net", project=ALT)
    r = await env.demo.post("/v2.1/servers", json=server_body(env, networks=[{"uuid": alt_net}]))
    assert r.json()["badRequest"]["message"] == f"Network {alt_net} could not be found."
    shared = env.cloud.add_network("public", project=ALT, shared=True)
    assert (await env.demo.post("/v2.1/servers", json=server_body(env, networks=[{"uuid": shared}]))).status_code == 202
    # now two networks are visible: ambiguous
    r = await env.demo.post("/v2.1/servers", json=body, headers=mv("2.37"))
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == (
        "Multiple possible networks found, use a Network ID to be more specific.")
    body["server"]["networks"] = []  # an empty list is "any network", as nova reads it
    assert (await env.demo.post("/v2.1/servers", json=body)).status_code == 409
    body["server"]["networks"] = "none"
    server_id = (await env.demo.post("/v2.1/servers", json=body, headers=mv("2.37"))).json()["server"]["id"]
    await env.rt.bus.drain()
    assert (await env.demo.get(f"/v2.1/servers/{server_id}")).json()["server"]["addresses"] == {}


async def test_ports(env):
    port = env.cloud.add_port(env.net)
    used = env.cloud.add_port(env.net, device_id="someone")
    r = await env.demo.post("/v2.1/servers", json=server_body(env, networks=[{"port": used}]))
    assert r.status_code == 409 and r.json()["conflictingRequest"]["message"] == f"Port {used} is still in use."
    r = await env.alt.post("/v2.1/servers", json=server_body(env, networks=[{"port": port}]))
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == f"Port id {port} could not be found."
    r = await env.demo.post("/v2.1/servers", json=server_body(env, networks=[{"port": port}], max_count=2))
    assert r.status_code == 400 and "single configured port" in r.json()["badRequest"]["message"]
    server_id = await boot(env, networks=[{"port": port}])
    await env.rt.bus.drain()
    server = (await env.demo.get(f"/v2.1/servers/{server_id}")).json()["server"]
    assert server["status"] == "ACTIVE"


async def test_other_projects_and_readers(env):
    server_id = await boot(env)
    await env.rt.bus.drain()
    assert (await env.alt.get(f"/v2.1/servers/{server_id}")).status_code == 404
    r = await env.alt.delete(f"/v2.1/servers/{server_id}")
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == f"Instance {server_id} could not be found."
    assert (await env.alt.get("/v2.1/servers")).json()["servers"] == []
    assert (await env.reader.get(f"/v2.1/servers/{server_id}")).status_code == 200
    r = await env.reader.delete(f"/v2.1/servers/{server_id}")
    assert r.status_code == 403 and "forbidden" in r.json()
    r = await env.reader.post("/v2.1/servers", json=server_body(env))
    assert r.status_code == 403
    assert (await env.demo.get(f"/v2.1/servers/{server_id}")).json()["server"]["status"] == "ACTIVE"
    # admins see everything with all_tenants, members may not ask
    assert (await env.demo.get("/v2.1/servers?all_tenants=1")).status_code == 403
    assert (await env.admin.get("/v2.1/servers")).json()["servers"] == []
    r = await env.admin.get("/v2.1/servers?all_tenants=1")
    assert [s["id"] for s in r.json()["servers"]] == [server_id]
    assert (await env.admin.delete(f"/v2.1/servers/{server_id}")).status_code == 204


async def test_list_filters_and_paging(env):
    ids = [await boot(env, name=f"web-{i}") for i in range(3)]
    other = await boot(env, name="db")
    await env.rt.bus.drain()
    r = await env.demo.get("/v2.1/servers", params={"name": "^web"})
    assert sorted(s["id"] for s in r.json()["servers"]) == sorted(ids)
    r = await env.demo.get("/v2.1/servers", params={"status": "ACTIVE"})
    assert len(r.json()["servers"]) == 4
    assert (await env.demo.get("/v2.1/servers", params={"status": "SHUTOFF"})).json()["servers"] == []
    r = await env.demo.get("/v2.1/servers", params={"limit": 2})
    page = r.json()
    assert [s["id"] for s in page["servers"]] == [other, ids[2]]  # newest first
    assert page["servers_links"][0]["rel"] == "next"
    r = await env.demo.get("/v2.1/servers", params={"limit": 2, "marker": ids[2]})
    assert [s["id"] for s in r.json()["servers"]] == [ids[1], ids[0]]
    r = await env.demo.get("/v2.1/servers", params={"marker": "nope"})
    assert r.status_code == 400
    r = await env.demo.get("/v2.1/servers", params={"changes-since": "yesterday"})
    assert r.status_code == 400
    await env.demo.delete(f"/v2.1/servers/{other}")
    await env.rt.bus.drain()
    r = await env.demo.get("/v2.1/servers/detail", params={"changes-since": "2000-01-01T00:00:00Z"})
    statuses = {s["id"]: s["status"] for s in r.json()["servers"]}
    assert statuses[other] == "DELETED" and len(statuses) == 4


async def test_console_output(env):
    server_id = await boot(env)
    await env.rt.bus.drain()
    r = await env.demo.post(f"/v2.1/servers/{server_id}/action", json={"os-getConsoleOutput": {"length": 2}})
    assert r.status_code == 200
    assert r.json() == {"output": "line 5\nvm-one login: "}  # the escape character is stripped
    r = await env.demo.post(f"/v2.1/servers/{server_id}/action", json={"os-getConsoleOutput": {}})
    assert r.json()["output"].startswith("line 1\n")
    r = await env.demo.post(f"/v2.1/servers/{server_id}/action", json={"os-getConsoleOutput": {"length": -5}})
    assert r.status_code == 400
    r = await env.demo.post(f"/v2.1/servers/{server_id}/action", json={"os-frobnicate": None})
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == "There is no such action: os-frobnicate"
    broken = await boot(env, flavorRef="9")
    await env.rt.bus.drain()
    r = await env.demo.post(f"/v2.1/servers/{broken}/action", json={"os-getConsoleOutput": {}})
    assert r.status_code == 409


async def test_failed_build_reports_fault_and_frees_host(rt, router, mount):
    cloud = FakeCloud()
    cloud.mount(rt, router)
    env = await make_env(rt, router, mount, cloud, fail_build="disk exploded")
    try:
        server_id = await boot(env)
        await rt.bus.drain()
        server = (await env.admin.get(f"/v2.1/servers/{server_id}")).json()["server"]
        assert server["status"] == "ERROR" and "disk exploded" in server["fault"]["message"]
        assert server["OS-EXT-SRV-ATTR:host"] is None
        hyp = (await env.admin.get("/v2.1/os-hypervisors/detail")).json()["hypervisors"][0]
        assert hyp["running_vms"] == 0
    finally:
        for c in env.clients:
            await c.aclose()


async def test_scheduler_down_leaves_nothing(rt, router, mount):
    cloud = FakeCloud()
    cloud.mount(rt, router)
    demo = await mount(compute_api.component)
    async with httpx.AsyncClient(transport=router, base_url=str(demo.base_url),
                                 headers={"X-Auth-Token": "admin-token"}) as admin:
        await admin.post("/v2.1/flavors", json={"flavor": {"name": "t", "id": "1", "ram": 64, "vcpus": 1, "disk": 0}})
    env = SimpleNamespace(image=cloud.add_image(), net=cloud.add_network("private"))
    r = await demo.post("/v2.1/servers", json=server_body(env))
    assert r.status_code == 503
    assert (await demo.get("/v2.1/servers")).json()["servers"] == []


async def test_delete_with_agent_gone_is_local(env):
    server_id = await boot(env)
    await env.rt.bus.drain()
    await env.rt.bus.unserve(env.agent)
    assert (await env.demo.delete(f"/v2.1/servers/{server_id}")).status_code == 204
    assert (await env.demo.get(f"/v2.1/servers/{server_id}")).status_code == 404
    # the port the agent made was deleted through the network API, a given one only unbound
    assert len(env.cloud.deleted_ports) == 1
    given = env.cloud.add_port(env.net)
    await env.rt.bus.serve("compute", env.agent, server="testhost")
    server_id = await boot(env, networks=[{"port": given}])
    await env.rt.bus.drain()
    assert env.cloud.ports[given]["device_id"] == server_id
    await env.rt.bus.unserve(env.agent)
    assert (await env.demo.delete(f"/v2.1/servers/{server_id}")).status_code == 204
    assert env.cloud.ports[given]["device_id"] == "" and len(env.cloud.deleted_ports) == 1


async def test_update_and_metadata(env):
    server_id = await boot(env)
    await env.rt.bus.drain()
    r = await env.demo.put(f"/v2.1/servers/{server_id}", json={"server": {"name": "renamed", "description": "d"}},
                           headers=mv("2.19"))
    assert r.status_code == 200 and r.json()["server"]["name"] == "renamed"
    assert r.json()["server"]["description"] == "d"
    r = await env.demo.post(f"/v2.1/servers/{server_id}/metadata", json={"metadata": {"a": "1"}})
    assert r.json() == {"metadata": {"a": "1"}}
    r = await env.demo.put(f"/v2.1/servers/{server_id}/metadata/b", json={"meta": {"b": "2"}})
    assert r.status_code == 200
    assert (await env.demo.get(f"/v2.1/servers/{server_id}/metadata")).json() == {"metadata": {"a": "1", "b": "2"}}
    r = await env.demo.put(f"/v2.1/servers/{server_id}/metadata/b", json={"meta": {"c": "2"}})
    assert r.status_code == 400
    assert (await env.demo.delete(f"/v2.1/servers/{server_id}/metadata/a")).status_code == 204
    assert (await env.demo.get(f"/v2.1/servers/{server_id}/metadata/a")).status_code == 404
    r = await env.reader.post(f"/v2.1/servers/{server_id}/metadata", json={"metadata": {"x": "1"}})
    assert r.status_code == 403


async def test_quota_instances(env):
    r = await env.demo.post("/v2.1/servers", json=server_body(env, min_count=11, max_count=11))
    assert r.status_code == 403
    assert "Quota exceeded for instances" in r.json()["forbidden"]["message"]
    r = await env.demo.post("/v2.1/servers", json=server_body(env, min_count=2, max_count=2))
    assert r.status_code == 202
    await env.rt.bus.drain()
    names = sorted(s["name"] for s in (await env.demo.get("/v2.1/servers")).json()["servers"])
    assert names == ["vm one-1", "vm one-2"]
    limits = (await env.demo.get("/v2.1/limits")).json()["limits"]["absolute"]
    assert limits["totalInstancesUsed"] == 2 and limits["totalRAMUsed"] == 1024
    assert limits["maxTotalInstances"] == 10


async def test_requested_host(env):
    r = await env.demo.post("/v2.1/servers", json=server_body(env, availability_zone="nova:testhost"))
    assert r.status_code == 403
    r = await env.admin.post("/v2.1/servers", json=server_body(env, availability_zone="nova:elsewhere"))
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == "Compute host elsewhere could not be found."
    r = await env.admin.post("/v2.1/servers", json=server_body(env, host="testhost"))
    assert r.status_code == 400  # "host" only exists from 2.74
    net = env.cloud.add_network("admin-net", project=ADMIN)
    forced = await boot(env, env.admin, availability_zone="nova:testhost", networks=[{"uuid": net}])
    r = await env.admin.post("/v2.1/servers", json=server_body(env, host="testhost", networks="none"),
                             headers=mv("2.74"))
    assert r.status_code == 202
    chosen = r.json()["server"]["id"]
    await env.rt.bus.drain()
    for server_id in (forced, chosen):
        server = (await env.admin.get(f"/v2.1/servers/{server_id}")).json()["server"]
        assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == "testhost"
        assert server["OS-EXT-AZ:availability_zone"] == "nova"


async def test_update_response_shapes(env):
    server_id = await boot(env)
    await env.rt.bus.drain()
    for version, schema in (("2.1", s21.update_server), ("2.19", s219.update_server),
                            ("2.75", s275.update_server), ("2.79", s279.update_server)):
        r = await env.demo.put(f"/v2.1/servers/{server_id}", json={"server": {"name": f"v{version}"}},
                               headers=mv(version))
        validate(schema, r)
        assert r.json()["server"]["name"] == f"v{version}"
    r = await env.demo.put(f"/v2.1/servers/{server_id}", json={"server": {"description": "x"}})
    assert r.status_code == 400  # description needs 2.19
    r = await env.demo.put(f"/v2.1/servers/{server_id}", json={"server": {"accessIPv4": "1.2.3.4"}})
    assert r.json()["server"]["accessIPv4"] == "1.2.3.4"
    r = await env.demo.put(f"/v2.1/servers/{server_id}", json={"server": {"accessIPv4": "::1"}})
    assert r.status_code == 400
