"""Limits and quota sets (Compute API reference: "Limits (limits)", "Quota sets
(os-quota-sets)").

Quotas are nova's defaults for every project until per-project quotas come
(:data:`~kumo.compute.service.QUOTA_DEFAULTS`); the usage numbers are real.
Quota sets are read-only here. Fields removed by microversions are left out
from the version on: network quotas from 2.36, ``maxImageMeta`` from 2.39,
injected files / personality from 2.57.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.compute.api.common import at_least, authorize, ok
from kumo.compute.service import QUOTA_DEFAULTS, count_keypairs, project_usage

Q = QUOTA_DEFAULTS


async def limits(request: Request):
    """GET /limits[?tenant_id= admin] -> 200 {"limits": {"rate": [], "absolute": {"maxTotalInstances",
    ..., "totalInstancesUsed", ...}}}; 403 for another project.
    """
    ctx = authorize(request, "os_compute_api:limits")
    project = request.query_params.get("tenant_id") or ctx.project_id
    if project != ctx.project_id:
        authorize(request, "os_compute_api:limits:other_project", {"project_id": project})
    async with request.app.state.db.session() as s:
        used = await project_usage(s, project)
    absolute = {
        "maxTotalInstances": Q["instances"], "maxTotalCores": Q["cores"],
        "maxTotalRAMSize": Q["ram"], "maxTotalKeypairs": Q["key_pairs"],
        "maxServerMeta": Q["metadata_items"], "maxServerGroups": Q["server_groups"],
        "maxServerGroupMembers": Q["server_group_members"],
        "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"], "totalServerGroupsUsed": 0,
    }
    if not at_least(request, 2, 36):
        absolute.update({"maxTotalFloatingIps": Q["floating_ips"], "totalFloatingIpsUsed": 0,
                         "maxSecurityGroups": Q["security_groups"], "totalSecurityGroupsUsed": 0,
                         "maxSecurityGroupRules": Q["security_group_rules"]})
    if not at_least(request, 2, 39):
        absolute["maxImageMeta"] = 128
    if not at_least(request, 2, 57):
        absolute.update({"maxPersonality": Q["injected_files"],
                         "maxPersonalitySize": Q["injected_file_content_bytes"]})
    return ok({"limits": {"rate": [], "absolute": absolute}})


def _quota_keys(request: Request) -> list[str]:
    keys = ["instances", "cores", "ram", "key_pairs", "metadata_items", "server_groups",
            "server_group_members"]
    if not at_least(request, 2, 36):
        keys += ["floating_ips", "fixed_ips", "security_groups", "security_group_rules"]
    if not at_least(request, 2, 57):
        keys += ["injected_files", "injected_file_content_bytes", "injected_file_path_bytes"]
    return keys


def _check_project(request: Request, rule: str) -> tuple:
    """The caller and the URL's project once ``os_compute_api:os-quota-sets:<rule>`` allows it."""
    project = request.path_params["project_id"]
    return authorize(request, f"os_compute_api:os-quota-sets:{rule}", {"project_id": project}), project


async def show_quota_set(request: Request):
    """GET /os-quota-sets/{project_id} -> 200 {"quota_set": {"id", "instances", "cores", "ram" (MiB),
    ...}}; 403 for another project unless admin.
    """
    _, project = _check_project(request, "show")
    body = {"id": project, **{k: Q[k] for k in _quota_keys(request)}}
    return ok({"quota_set": body})


async def show_quota_defaults(request: Request):
    """GET /os-quota-sets/{project_id}/defaults -> 200 the default quota set."""
    _, project = _check_project(request, "defaults")
    return ok({"quota_set": {"id": project, **{k: Q[k] for k in _quota_keys(request)}}})


async def show_quota_detail(request: Request):
    """GET /os-quota-sets/{project_id}/detail -> 200 each quota as {"limit", "in_use", "reserved": 0}."""
    ctx, project = _check_project(request, "detail")
    async with request.app.state.db.session() as s:
        used = await project_usage(s, project)
        keypairs = await count_keypairs(s, request.query_params.get("user_id") or ctx.user_id)
    in_use = {"instances": used["instances"], "cores": used["cores"], "ram": used["ram"],
              "key_pairs": keypairs}
    body = {"id": project}
    for key in _quota_keys(request):
        body[key] = {"limit": Q[key], "in_use": in_use.get(key, 0), "reserved": 0}
    return ok({"quota_set": body})


def routes() -> list[Route]:
    """The limits and os-quota-sets routes (read only)."""
    q = "/v2.1/os-quota-sets/{project_id}"
    return [
        Route("/v2.1/limits", limits, methods=["GET"]),
        Route(q, show_quota_set, methods=["GET"]),
        Route(q + "/defaults", show_quota_defaults, methods=["GET"]),
        Route(q + "/detail", show_quota_detail, methods=["GET"]),
    ]
