"""Compute API: os-simple-tenant-usage (index, show, periods, detailed, 2.40 paging)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tempest.lib.api_schema.response.compute.v2_1 import tenant_usages as u21

from tests.api.test_compute_fakes import ALT, DEMO, mv, validate
from tests.api.test_compute_servers import boot, env  # noqa: F401  (env is a fixture)

FMT = "%Y-%m-%dT%H:%M:%S.%f"


def _period(days_before=1, days_after=1):
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return {"start": (now - timedelta(days=days_before)).strftime(FMT),
            "end": (now + timedelta(days=days_after)).strftime(FMT)}


async def test_usage(env):
    first, second = await boot(env), await boot(env, flavorRef="1")
    await env.rt.bus.drain()
    assert (await env.demo.delete(f"/v2.1/servers/{second}")).status_code == 204
    await env.rt.bus.drain()

    assert (await env.demo.get("/v2.1/os-simple-tenant-usage", params=_period())).status_code == 403
    r = await env.admin.get("/v2.1/os-simple-tenant-usage", params={**_period(), "detailed": "1"})
    validate(u21.list_tenant_usage, r)
    [usage] = r.json()["tenant_usages"]
    assert usage["tenant_id"] == DEMO and usage["total_hours"] > 0
    servers = {s["instance_id"]: s for s in usage["server_usages"]}
    assert set(servers) == {first, second}
    assert servers[second]["state"] == "terminated" and servers[second]["ended_at"]
    assert servers[first]["state"] == "active" and servers[first]["ended_at"] is None
    assert servers[first]["memory_mb"] == 512 and servers[first]["flavor"] == "m1.tiny"
    assert usage["total_memory_mb_usage"] > usage["total_vcpus_usage"] > 0
    r = await env.admin.get("/v2.1/os-simple-tenant-usage", params=_period())
    assert "server_usages" not in r.json()["tenant_usages"][0]

    r = await env.demo.get(f"/v2.1/os-simple-tenant-usage/{DEMO}", params=_period())
    validate(u21.get_tenant_usage, r)
    assert len(r.json()["tenant_usage"]["server_usages"]) == 2
    assert (await env.demo.get(f"/v2.1/os-simple-tenant-usage/{ALT}", params=_period())).status_code == 403
    assert (await env.admin.get("/v2.1/os-simple-tenant-usage/", params=_period())).status_code == 404
    # a period before anything existed is empty; start after end or a bad date is 400
    r = await env.admin.get(f"/v2.1/os-simple-tenant-usage/{DEMO}", params=_period(10, -9))
    assert r.json() == {"tenant_usage": {}}
    p = _period()
    r = await env.admin.get(f"/v2.1/os-simple-tenant-usage/{DEMO}", params={"start": p["end"], "end": p["start"]})
    assert r.status_code == 400
    r = await env.admin.get(f"/v2.1/os-simple-tenant-usage/{DEMO}", params={"start": "yesterday"})
    assert r.status_code == 400
    # 2.40: limit / marker over the servers
    r = await env.admin.get("/v2.1/os-simple-tenant-usage", params={**_period(), "detailed": "1", "limit": "1"},
                            headers=mv("2.40"))
    page = r.json()
    assert len(page["tenant_usages"][0]["server_usages"]) == 1 and "tenant_usages_links" in page
    marker = page["tenant_usages"][0]["server_usages"][0]["instance_id"]
    r = await env.admin.get("/v2.1/os-simple-tenant-usage",
                            params={**_period(), "detailed": "1", "marker": marker}, headers=mv("2.40"))
    rest = [s["instance_id"] for s in r.json()["tenant_usages"][0]["server_usages"]]
    assert rest == [({first, second} - {marker}).pop()]


async def test_instance_usage_audit_log(env):
    from tempest.lib.api_schema.response.compute.v2_1 import instance_usage_audit_logs as al21
    assert (await env.demo.get("/v2.1/os-instance_usage_audit_log")).status_code == 403
    r = await env.admin.get("/v2.1/os-instance_usage_audit_log")
    validate(al21.list_instance_usage_audit_log, r)
    log = r.json()["instance_usage_audit_logs"]
    assert log["hosts_not_run"] == ["testhost"] and log["overall_status"] == "0 of 1 hosts done. 0 errors."
    r = await env.admin.get("/v2.1/os-instance_usage_audit_log/2026-03-10 10:00:00")
    validate(al21.get_instance_usage_audit_log, r)
    body = r.json()["instance_usage_audit_log"]
    assert (body["period_beginning"], body["period_ending"]) == ("2026-02-01 00:00:00", "2026-03-01 00:00:00")
    assert (await env.admin.get("/v2.1/os-instance_usage_audit_log/2026-01-05")).json()[
        "instance_usage_audit_log"]["period_beginning"] == "2025-12-01 00:00:00"
    assert (await env.admin.get("/v2.1/os-instance_usage_audit_log/not-a-date")).status_code == 400
    assert (await env.demo.get("/v2.1/os-instance_usage_audit_log/2026-01-05")).status_code == 403
