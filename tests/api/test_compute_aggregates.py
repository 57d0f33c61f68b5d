"""Compute API: host aggregates, availability zones from aggregates, zone scheduling, os-hosts."""
from __future__ import annotations

import pytest
from tempest.lib.api_schema.response.compute.v2_1 import aggregates as a21
from tempest.lib.api_schema.response.compute.v2_1 import availability_zone as az21
from tempest.lib.api_schema.response.compute.v2_1 import hosts as hs21
from tempest.lib.api_schema.response.compute.v2_41 import aggregates as a241

from tests.api.test_compute_fakes import fake_agent, mv, validate
from tests.api.test_compute_servers import boot, make_env


@pytest.fixture
async def env2(rt, router, mount):
    """Two compute hosts: testhost and host2."""
    from tests.api.test_compute_fakes import FakeCloud
    cloud = FakeCloud()
    cloud.mount(rt, router)
    env = await make_env(rt, router, mount, cloud)
    env.agent2 = (await mount(fake_agent(cloud, host="host2"))).agent
    yield env
    for c in env.clients:
        await c.aclose()


async def _server(env, server_id):
    await env.rt.bus.drain()
    return (await env.admin.get(f"/v2.1/servers/{server_id}")).json()["server"]


async def test_aggregate_crud_and_hosts(env2):
    env = env2
    body = {"aggregate": {"name": "agg1", "availability_zone": "zone-a"}}
    assert (await env.demo.post("/v2.1/os-aggregates", json=body)).status_code == 403
    r = await env.admin.post("/v2.1/os-aggregates", json=body)
    validate(a21.create_aggregate, r)
    agg = r.json()["aggregate"]
    assert agg["availability_zone"] == "zone-a" and isinstance(agg["id"], int)
    assert (await env.admin.post("/v2.1/os-aggregates", json=body)).status_code == 409
    for bad in ("", "x" * 256):
        r = await env.admin.post("/v2.1/os-aggregates", json={"aggregate": {"name": bad}})
        assert r.status_code == 400, bad
    r = await env.admin.get(f"/v2.1/os-aggregates/{agg['id']}", headers=mv("2.41"))
    validate(a241.get_aggregate, r)
    assert r.json()["aggregate"]["metadata"] == {"availability_zone": "zone-a"}
    assert (await env.admin.get("/v2.1/os-aggregates/999")).status_code == 404

    act = f"/v2.1/os-aggregates/{agg['id']}/action"
    assert (await env.demo.post(act, json={"add_host": {"host": "host2"}})).status_code == 403
    assert (await env.admin.post(act, json={"add_host": {"host": "nohost"}})).status_code == 404
    r = await env.admin.post(act, json={"add_host": {"host": "host2"}})
    validate(a21.aggregate_add_remove_host, r)
    assert r.json()["aggregate"]["hosts"] == ["host2"]
    assert (await env.admin.post(act, json={"add_host": {"host": "host2"}})).status_code == 409
    # a host cannot be in two zones
    r = await env.admin.post("/v2.1/os-aggregates", json={"aggregate": {"name": "agg2",
                                                                         "availability_zone": "zone-b"}})
    agg2 = r.json()["aggregate"]
    r = await env.admin.post(f"/v2.1/os-aggregates/{agg2['id']}/action", json={"add_host": {"host": "host2"}})
    assert r.status_code == 409
    r = await env.admin.post(f"/v2.1/os-aggregates/{agg2['id']}/action", json={"add_host": {"host": "testhost"}})
    assert r.status_code == 200
    # nor can a zone change move a host into a second zone
    r = await env.admin.put(f"/v2.1/os-aggregates/{agg2['id']}", json={"aggregate": {"availability_zone": "zone-a"}})
    assert r.status_code == 200  # testhost is only in agg2
    r = await env.admin.post(f"/v2.1/os-aggregates/{agg2['id']}/action",
                             json={"set_metadata": {"metadata": {"availability_zone": "zone-b", "ssd": "true"}}})
    validate(a21.aggregate_set_metadata, r)
    assert r.json()["aggregate"]["metadata"] == {"availability_zone": "zone-b", "ssd": "true"}
    r = await env.admin.post(f"/v2.1/os-aggregates/{agg2['id']}/action",
                             json={"set_metadata": {"metadata": {"ssd": None}}})
    assert r.json()["aggregate"]["metadata"] == {"availability_zone": "zone-b"}

    r = await env.admin.put(f"/v2.1/os-aggregates/{agg['id']}", json={"aggregate": {"name": "agg2"}})
    assert r.status_code == 409
    r = await env.admin.put(f"/v2.1/os-aggregates/{agg['id']}", json={"aggregate": {"name": "renamed"}})
    validate(a21.update_aggregate, r)
    r = await env.admin.get("/v2.1/os-aggregates")
    validate(a21.list_aggregates, r)
    assert [a["name"] for a in r.json()["aggregates"]] == ["renamed", "agg2"]

    # zones: zone-a (host2), zone-b (testhost); no compute host left in "nova"
    r = await env.demo.get("/v2.1/os-availability-zone")
    validate(az21.list_availability_zone_list, r)
    assert sorted(z["zoneName"] for z in r.json()["availabilityZoneInfo"]) == ["zone-a", "zone-b"]
    r = await env.admin.get("/v2.1/os-availability-zone/detail")
    validate(az21.list_availability_zone_list_detail, r)
    zones = {z["zoneName"]: z["hosts"] for z in r.json()["availabilityZoneInfo"]}
    assert set(zones) == {"internal", "zone-a", "zone-b"} and "host2" in zones["zone-a"]
    services = (await env.admin.get("/v2.1/os-services", params={"host": "host2"})).json()["services"]
    assert services[0]["zone"] == "zone-a"

    # not empty -> 400; remove the host, then delete
    assert (await env.admin.delete(f"/v2.1/os-aggregates/{agg['id']}")).status_code == 400
    r = await env.admin.post(act, json={"remove_host": {"host": "host2"}})
    validate(a21.aggregate_add_remove_host, r)
    assert (await env.admin.post(act, json={"remove_host": {"host": "host2"}})).status_code == 404
    assert (await env.admin.delete(f"/v2.1/os-aggregates/{agg['id']}")).status_code == 200
    assert (await env.admin.delete(f"/v2.1/os-aggregates/{agg['id']}")).status_code == 404
    # deleting a compute service takes its host out of its aggregates
    r = await env.admin.post(f"/v2.1/os-aggregates/{agg2['id']}/action", json={"add_host": {"host": "host2"}})
    assert r.json()["aggregate"]["hosts"] == ["testhost", "host2"]
    svc = (await env.admin.get("/v2.1/os-services", params={"host": "host2"})).json()["services"][0]
    assert (await env.admin.delete(f"/v2.1/os-services/{svc['id']}")).status_code == 204
    r = await env.admin.get(f"/v2.1/os-aggregates/{agg2['id']}")
    assert r.json()["aggregate"]["hosts"] == ["testhost"]


async def test_zone_scheduling(env2):
    env = env2
    r = await env.admin.post("/v2.1/os-aggregates", json={"aggregate": {"name": "a", "availability_zone": "az1"}})
    agg = r.json()["aggregate"]
    await env.admin.post(f"/v2.1/os-aggregates/{agg['id']}/action", json={"add_host": {"host": "host2"}})
    r = await env.demo.post("/v2.1/servers", json={"server": {
        "name": "x", "imageRef": env.image, "flavorRef": "1", "networks": [{"uuid": env.net}],
        "availability_zone": "nowhere"}})
    assert r.status_code == 400
    for _ in range(3):
        server = await _server(env, await boot(env, availability_zone="az1"))
        assert server["OS-EXT-SRV-ATTR:host"] == "host2" and server["OS-EXT-AZ:availability_zone"] == "az1"
    for _ in range(2):
        server = await _server(env, await boot(env, availability_zone="nova"))
        assert server["OS-EXT-SRV-ATTR:host"] == "testhost"
    # a forced host outside the zone finds no valid host
    server = await _server(env, await boot(env, client=env.admin, availability_zone="az1:testhost"))
    assert server["status"] == "ERROR"


async def test_disabled_host_not_scheduled(env2):
    env = env2
    r = await env.admin.get("/v2.1/os-services", params={"binary": "nova-compute", "host": "testhost"},
                            headers=mv("2.53"))
    svc = r.json()["services"][0]
    r = await env.admin.put(f"/v2.1/os-services/{svc['id']}", headers=mv("2.53"),
                            json={"status": "disabled", "disabled_reason": "maintenance"})
    assert r.status_code == 200
    for _ in range(3):
        assert (await _server(env, await boot(env)))["OS-EXT-SRV-ATTR:host"] == "host2"
    r = await env.admin.put(f"/v2.1/os-services/{svc['id']}", headers=mv("2.53"), json={"forced_down": True})
    assert r.json()["service"]["state"] == "down" and r.json()["service"]["forced_down"] is True


async def test_os_hosts(env2):
    env = env2
    host = (await _server(env, await boot(env)))["OS-EXT-SRV-ATTR:host"]
    assert (await env.demo.get("/v2.1/os-hosts")).status_code == 403
    r = await env.admin.get("/v2.1/os-hosts")
    validate(hs21.list_hosts, r)
    hosts = r.json()["hosts"]
    assert {"host_name": "host2", "service": "compute", "zone": "nova"} in hosts
    r = await env.admin.get("/v2.1/os-hosts", params={"zone": "internal"})
    assert {h["service"] for h in r.json()["hosts"]} == {"scheduler", "conductor"}
    assert (await env.admin.get("/v2.1/os-hosts", params={"zone": "nozone"})).json()["hosts"] == []
    r = await env.admin.get(f"/v2.1/os-hosts/{host}")
    validate(hs21.get_host_detail, r)
    rows = {x["resource"]["project"]: x["resource"] for x in r.json()["host"]}
    assert rows["(total)"]["cpu"] == 4 and rows["(used_max)"]["memory_mb"] == 512
    assert (await env.admin.get("/v2.1/os-hosts/nohost")).status_code == 404
    r = await env.admin.put("/v2.1/os-hosts/host2", json={"status": "disable"})
    validate(hs21.update_host, r)
    assert r.json() == {"host": "host2", "status": "disabled"}
    assert (await env.admin.put("/v2.1/os-hosts/host2", json={})).status_code == 400
    assert (await env.admin.put("/v2.1/os-hosts/host2", json={"status": "bad"})).status_code == 400
    assert (await env.admin.put("/v2.1/os-hosts/nohost", json={"status": "enable"})).status_code == 404
    assert (await env.admin.get("/v2.1/os-hosts/nohost/reboot")).status_code == 404
    assert (await env.admin.get("/v2.1/os-hosts/host2/reboot")).status_code == 501
    assert (await env.demo.get("/v2.1/os-hosts/host2/startup")).status_code == 403
    assert (await env.admin.get("/v2.1/os-hosts", headers=mv("2.43"))).status_code == 404


async def test_aggregate_instance_extra_specs(env2):
    env = env2
    r = await env.admin.post("/v2.1/os-aggregates", json={"aggregate": {"name": "fast"}})
    agg = r.json()["aggregate"]
    act = f"/v2.1/os-aggregates/{agg['id']}/action"
    await env.admin.post(act, json={"add_host": {"host": "testhost"}})
    await env.admin.post(act, json={"set_metadata": {"metadata": {"disk": "ssd,nvme"}}})
    r = await env.admin.post("/v2.1/flavors/1/os-extra_specs",
                             json={"extra_specs": {"aggregate_instance_extra_specs:disk": "nvme"}})
    assert r.status_code == 200
    for _ in range(3):
        assert (await _server(env, await boot(env)))["OS-EXT-SRV-ATTR:host"] == "testhost"
    await env.admin.put("/v2.1/flavors/1/os-extra_specs/aggregate_instance_extra_specs:disk",
                        json={"aggregate_instance_extra_specs:disk": "spinning"})
    assert (await _server(env, await boot(env)))["status"] == "ERROR"
