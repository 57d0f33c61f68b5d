"""Compute API: os-services, os-hypervisors, availability zones, limits and quota sets."""
from __future__ import annotations

from tempest.lib.api_schema.response.compute.v2_1 import availability_zone as az21
from tempest.lib.api_schema.response.compute.v2_1 import hypervisors as h21
from tempest.lib.api_schema.response.compute.v2_1 import limits as l21
from tempest.lib.api_schema.response.compute.v2_1 import quotas as q21
from tempest.lib.api_schema.response.compute.v2_1 import services as sv21
from tempest.lib.api_schema.response.compute.v2_11 import services as sv211
from tempest.lib.api_schema.response.compute.v2_53 import hypervisors as h253
from tempest.lib.api_schema.response.compute.v2_53 import services as sv253
from tempest.lib.api_schema.response.compute.v2_57 import limits as l257
from tempest.lib.api_schema.response.compute.v2_57 import quotas as q257

from tests.api.test_compute_fakes import ALT, DEMO, mv, validate
from tests.api.test_compute_servers import boot, env  # noqa: F401  (env is a fixture)


async def test_services(env):
    assert (await env.demo.get("/v2.1/os-services")).status_code == 403
    r = await env.admin.get("/v2.1/os-services")
    validate(sv21.list_services, r)
    services = {s["binary"]: s for s in r.json()["services"]}
    assert set(services) == {"nova-conductor", "nova-scheduler", "nova-compute"}
    assert all(s["state"] == "up" and s["status"] == "enabled" for s in services.values())
    assert services["nova-compute"]["zone"] == "nova" and services["nova-scheduler"]["zone"] == "internal"
    assert isinstance(services["nova-compute"]["id"], int)
    validate(sv211.list_services, await env.admin.get("/v2.1/os-services", headers=mv("2.11")))
    r = await env.admin.get("/v2.1/os-services", params={"binary": "nova-compute"}, headers=mv("2.53"))
    validate(sv253.list_services, r)
    [compute] = r.json()["services"]
    assert len(compute["id"]) == 36

    # disabling the only compute service leaves the scheduler without hosts
    r = await env.admin.put(f"/v2.1/os-services/{compute['id']}", headers=mv("2.53"),
                            json={"status": "disabled", "disabled_reason": "maintenance"})
    validate(sv253.update_service, r)
    assert r.json()["service"]["status"] == "disabled"
    server_id = await boot(env)
    await env.rt.bus.drain()
    assert (await env.demo.get(f"/v2.1/servers/{server_id}")).json()["server"]["status"] == "ERROR"
    r = await env.admin.put(f"/v2.1/os-services/{compute['id']}", headers=mv("2.53"),
                            json={"status": "enabled", "disabled_reason": "x"})
    assert r.status_code == 400
    r = await env.admin.put("/v2.1/os-services/enable", json={"host": "testhost", "binary": "nova-compute"})
    assert r.json() == {"service": {"host": "testhost", "binary": "nova-compute", "status": "enabled"}}
    server_id = await boot(env)
    await env.rt.bus.drain()
    assert (await env.demo.get(f"/v2.1/servers/{server_id}")).json()["server"]["status"] == "ACTIVE"
    r = await env.admin.delete(f"/v2.1/os-services/{compute['id']}", headers=mv("2.53"))
    assert r.status_code == 409
    r = await env.admin.put("/v2.1/os-services/not-a-uuid", json={"status": "enabled"}, headers=mv("2.53"))
    assert r.status_code == 400


async def test_hypervisors(env):
    assert (await env.demo.get("/v2.1/os-hypervisors")).status_code == 403
    r = await env.admin.get("/v2.1/os-hypervisors")
    validate(h21.list_search_hypervisors, r)
    [hyp] = r.json()["hypervisors"]
    assert hyp == {"id": hyp["id"], "hypervisor_hostname": "testhost.local", "state": "up", "status": "enabled"}
    await boot(env)
    await env.rt.bus.drain()
    r = await env.admin.get("/v2.1/os-hypervisors/detail")
    validate(h21.list_hypervisors_detail, r)
    detail = r.json()["hypervisors"][0]
    assert (detail["vcpus"], detail["vcpus_used"], detail["memory_mb"], detail["memory_mb_used"]) == (4, 1, 4096, 1024)
    assert (detail["free_ram_mb"], detail["local_gb_used"], detail["running_vms"]) == (3072, 1, 1)
    assert detail["cpu_info"] == '{"arch": "x86_64"}' and detail["service"]["host"] == "testhost"
    r = await env.admin.get(f"/v2.1/os-hypervisors/{hyp['id']}")
    validate(h21.get_hypervisor, r)
    r = await env.admin.get("/v2.1/os-hypervisors/detail", params={"with_servers": "true"}, headers=mv("2.53"))
    validate(h253.list_hypervisors_detail, r)
    new = r.json()["hypervisors"][0]
    assert len(new["id"]) == 36 and new["cpu_info"] == {"arch": "x86_64"} and len(new["servers"]) == 1
    r = await env.admin.get(f"/v2.1/os-hypervisors/{new['id']}", headers=mv("2.53"))
    validate(h253.get_hypervisor, r)
    assert (await env.admin.get(f"/v2.1/os-hypervisors/{hyp['id']}", headers=mv("2.53"))).status_code == 400
    assert (await env.admin.get("/v2.1/os-hypervisors/999")).status_code == 404
    r = await env.admin.get("/v2.1/os-hypervisors/statistics")
    validate(h21.get_hypervisor_statistics, r)
    assert r.json()["hypervisor_statistics"]["count"] == 1
    assert r.json()["hypervisor_statistics"]["running_vms"] == 1
    r = await env.admin.get(f"/v2.1/os-hypervisors/{hyp['id']}/uptime")
    validate(h21.get_hypervisor_uptime, r)
    assert " up " in r.json()["hypervisor"]["uptime"] and "load average: " in r.json()["hypervisor"]["uptime"]
    assert (await env.admin.get("/v2.1/os-hypervisors/999/uptime")).status_code == 404


async def test_availability_zones(env):
    r = await env.demo.get("/v2.1/os-availability-zone")
    validate(az21.list_availability_zone_list, r)
    assert r.json()["availabilityZoneInfo"] == [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]
    assert (await env.demo.get("/v2.1/os-availability-zone/detail")).status_code == 403
    r = await env.admin.get("/v2.1/os-availability-zone/detail")
    validate(az21.list_availability_zone_list_detail, r)
    zones = {z["zoneName"]: z for z in r.json()["availabilityZoneInfo"]}
    assert set(zones["internal"]["hosts"]["testhost"]) == {"nova-conductor", "nova-scheduler"}
    assert zones["nova"]["hosts"]["testhost"]["nova-compute"]["active"] is True


async def test_limits_and_quotas(env):
    r = await env.demo.get("/v2.1/limits")
    validate(l21.get_limit, r)
    await boot(env)
    await env.rt.bus.drain()
    r = await env.demo.get("/v2.1/limits", headers=mv("2.57"))
    validate(l257.get_limit, r)
    absolute = r.json()["limits"]["absolute"]
    assert (absolute["totalInstancesUsed"], absolute["totalCoresUsed"], absolute["totalRAMUsed"]) == (1, 1, 512)
    assert "maxPersonality" not in absolute and absolute["maxTotalKeypairs"] == 100
    assert (await env.demo.get("/v2.1/limits", params={"tenant_id": ALT})).status_code == 403
    r = await env.demo.get(f"/v2.1/os-quota-sets/{DEMO}")
    validate(q21.get_quota_set, r)
    assert r.json()["quota_set"]["instances"] == 10 and r.json()["quota_set"]["cores"] == 20
    validate(q257.get_quota_set, await env.demo.get(f"/v2.1/os-quota-sets/{DEMO}", headers=mv("2.57")))
    r = await env.demo.get(f"/v2.1/os-quota-sets/{DEMO}/detail")
    validate(q21.get_quota_set_details, r)
    assert r.json()["quota_set"]["instances"] == {"limit": 10, "in_use": 1, "reserved": 0}
    assert (await env.demo.get(f"/v2.1/os-quota-sets/{ALT}")).status_code == 403
    assert (await env.admin.get(f"/v2.1/os-quota-sets/{ALT}")).status_code == 200
