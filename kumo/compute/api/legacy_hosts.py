"""The deprecated os-hosts API (Compute API reference: "Hosts (os-hosts) (DEPRECATED)"), up to 2.42.

Hosts are the hosts of compute services. ``GET /os-hosts`` lists every
service as ``{"host_name", "service" (its topic), "zone"}``; a host's detail
gives its compute node's totals and usage per project (``cpu``,
``memory_mb`` in MiB, ``disk_gb`` in GiB). Enabling or disabling a host
enables or disables its nova-compute service; maintenance mode and host power
actions are not supported by kumo's drivers (501, as nova's libvirt driver).
From 2.43 every route is 404.
"""
from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest, NotFound
from kumo.compute.aggregates import DEFAULT_ZONE, INTERNAL_ZONE, host_zones
from kumo.compute.api.common import NotImplementedError_, at_least, authorize, ok
from kumo.compute.models import ComputeNode, Instance, Service
from kumo.compute.objects import flavor_disk_gb
from kumo.compute.schemas import check_extra


def _removed(request: Request) -> None:
    if at_least(request, 2, 43):
        raise NotFound("The resource could not be found.")


def _db(request: Request):
    return request.app.state.db


async def _compute_service(s, host: str) -> Service:
    svc = (await s.execute(select(Service).where(
        Service.host == host, Service.binary == "nova-compute"))).scalar_one_or_none()
    if svc is None:
        raise NotFound(f"Compute host {host} could not be found.")
    return svc


async def list_hosts(request: Request):
    """GET /os-hosts[?zone=] (admin) -> 200 {"hosts": [{"host_name", "service", "zone"}]}."""
    _removed(request)
    authorize(request, "os_compute_api:os-hosts:list")
    async with _db(request).session() as s:
        services = (await s.execute(select(Service).order_by(Service.id))).scalars().all()
        zones = await host_zones(s)
    wanted = request.query_params.get("zone")
    out = []
    for svc in services:
        zone = zones.get(svc.host, DEFAULT_ZONE) if svc.binary == "nova-compute" else INTERNAL_ZONE
        if wanted and zone != wanted:
            continue
        out.append({"host_name": svc.host, "service": svc.topic or svc.binary.removeprefix("nova-"),
                    "zone": zone})
    return ok({"hosts": out})


async def show_host(request: Request):
    """GET /os-hosts/{host} (admin) -> 200 {"host": [{"resource": {"host", "project", "cpu",
    "memory_mb", "disk_gb"}}]}: "(total)", "(used_now)", "(used_max)", then one per project; 404."""
    _removed(request)
    authorize(request, "os_compute_api:os-hosts:show")
    host = request.path_params["host_name"]
    async with _db(request).session() as s:
        await _compute_service(s, host)
        nodes = (await s.execute(select(ComputeNode).where(ComputeNode.host == host))).scalars().all()
        flavors = (await s.execute(select(Instance.project_id, Instance.flavor).where(
            Instance.host == host, Instance.deleted.is_(False)))).all()
    reserved = request.app.state.settings.compute.reserved_host_memory_mb
    total = {"cpu": sum(n.vcpus for n in nodes), "memory_mb": sum(n.memory_mb for n in nodes),
             "disk_gb": sum(n.local_gb for n in nodes)}
    projects: dict[str, dict] = {}
    for project, flavor in flavors:
        p = projects.setdefault(project, {"cpu": 0, "memory_mb": 0, "disk_gb": 0})
        p["cpu"] += int(flavor.get("vcpus", 0))
        p["memory_mb"] += int(flavor.get("ram", 0))
        p["disk_gb"] += flavor_disk_gb(flavor)
    used = {k: sum(p[k] for p in projects.values()) for k in ("cpu", "memory_mb", "disk_gb")}
    used_now = dict(used, memory_mb=used["memory_mb"] + reserved)
    rows = [("(total)", total), ("(used_now)", used_now), ("(used_max)", used)]
    rows += sorted(projects.items())
    return ok({"host": [{"resource": {"host": host, "project": name, **values}}
                        for name, values in rows]})


async def update_host(request: Request):
    """PUT /os-hosts/{host} (admin) {"status": "enable"|"disable", "maintenance_mode":
    "enable"|"disable"} -> 200 {"host", "status": "enabled"|"disabled"}; 400 bad or empty body,
    404, 501 maintenance mode."""
    _removed(request)
    authorize(request, "os_compute_api:os-hosts:update")
    body = await json_body(request)
    if not isinstance(body, dict) or not body:
        raise BadRequest("'status' or 'maintenance_mode' needed for host update")
    check_extra(body, {"status", "maintenance_mode"})
    for key in body:
        if body[key] not in ("enable", "disable"):
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {body[key]}. "
                             f"{body[key]!r} is not one of ['enable', 'disable']")
    host = request.path_params["host_name"]
    async with _db(request).session() as s:
        svc = await _compute_service(s, host)
        if "maintenance_mode" in body:
            raise NotImplementedError_("Virt driver does not implement host maintenance mode.")
        svc.disabled = body["status"] == "disable"
        svc.disabled_reason = None
    return ok({"host": host, "status": "disabled" if body["status"] == "disable" else "enabled"})


async def host_power_action(request: Request):
    """GET /os-hosts/{host}/{startup,shutdown,reboot} (admin) -> 501 (no driver powers hosts); 404."""
    _removed(request)
    action = request.url.path.rsplit("/", 1)[-1]
    rule = "start" if action == "startup" else action
    authorize(request, f"os_compute_api:os-hosts:{rule}")
    async with _db(request).session() as s:
        await _compute_service(s, request.path_params["host_name"])
    raise NotImplementedError_("Virt driver does not implement host power actions.")


def routes() -> list[Route]:
    """The os-hosts routes."""
    h = "/v2.1/os-hosts"
    return [
        Route(h, list_hosts, methods=["GET"]),
        Route(h + "/{host_name}", show_host, methods=["GET"]),
        Route(h + "/{host_name}", update_host, methods=["PUT"]),
        Route(h + "/{host_name}/startup", host_power_action, methods=["GET"]),
        Route(h + "/{host_name}/shutdown", host_power_action, methods=["GET"]),
        Route(h + "/{host_name}/reboot", host_power_action, methods=["GET"]),
    ]
