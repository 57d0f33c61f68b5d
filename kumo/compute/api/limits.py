"""Limits (Compute API reference: "Limits (limits)").

The absolute limits are the project's effective quotas
(:mod:`kumo.compute.quotas`: per-user, per-project, class ``default``,
nova's defaults) with the usage counted from the database. Fields removed by
microversions are left out from the version on: network quotas from 2.36,
``maxImageMeta`` from 2.39, injected files / personality from 2.57. Quota
sets are in :mod:`kumo.compute.api.quotas`.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.compute import quotas
from kumo.compute.api.common import at_least, authorize, ok


async def limits(request: Request):
    """GET /limits[?tenant_id= admin] -> 200 {"limits": {"rate": [], "absolute": {"maxTotalInstances",
    ..., "totalInstancesUsed", ...}}} (RAM in MiB, -1 unlimited); 403 for another project.
    """
    ctx = authorize(request, "os_compute_api:limits")
    project = request.query_params.get("tenant_id") or ctx.project_id
    if project != ctx.project_id:
        authorize(request, "os_compute_api:limits:other_project", {"project_id": project})
    async with request.app.state.db.session() as s:
        q = await quotas.limits_for(s, project)
        used = await quotas.usage(s, project)
    absolute = {
        "maxTotalInstances": q["instances"], "maxTotalCores": q["cores"],
        "maxTotalRAMSize": q["ram"], "maxTotalKeypairs": q["key_pairs"],
        "maxServerMeta": q["metadata_items"], "maxServerGroups": q["server_groups"],
        "maxServerGroupMembers": q["server_group_members"],
        "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"], "totalServerGroupsUsed": used["server_groups"],
    }
    if not at_least(request, 2, 36):
        absolute.update({"maxTotalFloatingIps": q["floating_ips"], "totalFloatingIpsUsed": 0,
                         "maxSecurityGroups": q["security_groups"], "totalSecurityGroupsUsed": 0,
                         "maxSecurityGroupRules": q["security_group_rules"]})
    if not at_least(request, 2, 39):
        absolute["maxImageMeta"] = q["metadata_items"]
    if not at_least(request, 2, 57):
        absolute.update({"maxPersonality": q["injected_files"],
                         "maxPersonalitySize": q["injected_file_content_bytes"]})
    return ok({"limits": {"rate": [], "absolute": absolute}})


def routes() -> list[Route]:
    """The limits route."""
    return [Route("/v2.1/limits", limits, methods=["GET"])]
