"""Services and hypervisors (Compute API reference: "Compute services (os-services)",
"Hypervisors (os-hypervisors)").

Services and hypervisors are admin-only. Ids are integers before 2.53 and
UUIDs from 2.53. A service is ``up`` when its last heartbeat is at most 60 s
old and it is not forced down. Hypervisor used amounts are the claims of
the instances on the node (``memory_mb_used`` includes
``reserved_host_memory_mb``, as nova reports it).
"""
from __future__ import annotations

import json

from sqlalchemy import delete, select
from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body, query_bool
from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.db import utcnow
from kumo.compute.aggregates import DEFAULT_ZONE, INTERNAL_ZONE, host_zones
from kumo.compute.api.common import (NotImplementedError_, at_least, authorize, limit_param, next_link,
                                     ok)
from kumo.compute.models import AggregateHost, ComputeNode, Instance, Service
from kumo.compute.objects import nova_time
from kumo.compute.schemas import check_extra, is_uuid
from kumo.compute.service import node_usage, service_is_up


def _db(request: Request):
    return request.app.state.db


def _ident(request: Request, row) -> int | str:
    return row.uuid if at_least(request, 2, 53) else row.id


def _service_view(request: Request, svc: Service, now, zones: dict[str, str]) -> dict:
    zone = zones.get(svc.host, DEFAULT_ZONE) if svc.binary == "nova-compute" else INTERNAL_ZONE
    body = {"id": _ident(request, svc), "binary": svc.binary, "host": svc.host, "zone": zone,
            "status": "disabled" if svc.disabled else "enabled",
            "state": "up" if service_is_up(svc, now) else "down",
            "updated_at": nova_time(svc.updated_at), "disabled_reason": svc.disabled_reason}
    if at_least(request, 2, 11):
        body["forced_down"] = bool(svc.forced_down)
    return body


async def list_services(request: Request):
    """GET /os-services[?host=&binary=] (admin) -> 200 {"services": [{"id", "binary", "host", "zone",
    "status", "state", "updated_at", "disabled_reason"(, "forced_down" 2.11+)}]}.
    """
    authorize(request, "os_compute_api:os-services:list")
    stmt = select(Service).order_by(Service.id)
    for key in ("host", "binary"):
        if request.query_params.get(key):
            stmt = stmt.where(getattr(Service, key) == request.query_params[key])
    async with _db(request).session() as s:
        rows = (await s.execute(stmt)).scalars().all()
        zones = await host_zones(s)
    now = utcnow()
    return ok({"services": [_service_view(request, r, now, zones) for r in rows]})


async def _service_by_id(s, request: Request, raw: str) -> Service:
    if at_least(request, 2, 53):
        if not is_uuid(raw):
            raise BadRequest(f"Invalid uuid {raw}")
        svc = (await s.execute(select(Service).where(Service.uuid == raw))).scalar_one_or_none()
    else:
        svc = await s.get(Service, int(raw)) if raw.isdigit() else None
    if svc is None:
        raise NotFound(f"Service {raw} could not be found.")
    return svc


async def update_service(request: Request):
    """PUT /os-services/{uuid} (2.53+) {"status", "disabled_reason", "forced_down"} -> 200 {"service":
    {...}}; before 2.53 the legacy enable/disable/disable-log-reason/force-down actions. 400, 403,
    404.
    """
    authorize(request, "os_compute_api:os-services:update")
    raw = request.path_params["service_id"]
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Malformed request body")
    if not at_least(request, 2, 53):
        return await _legacy_update(request, raw, body)
    check_extra(body, {"status", "disabled_reason", "forced_down"})
    status, reason = body.get("status"), body.get("disabled_reason")
    if status not in (None, "enabled", "disabled"):
        raise BadRequest(f"Invalid input for field/attribute status. Value: {status}. "
                         "is not one of ['enabled', 'disabled']")
    if status is None and "forced_down" not in body:
        raise BadRequest("At least one of 'status' or 'forced_down' should be specified.")
    if reason is not None and status != "disabled":
        raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    if reason is not None and (not isinstance(reason, str) or not 1 <= len(reason) <= 255):
        raise BadRequest(f"Invalid input for field/attribute disabled_reason. Value: {reason}.")
    forced = body.get("forced_down")
    if "forced_down" in body and not isinstance(forced, bool):
        raise BadRequest(f"Invalid input for field/attribute forced_down. Value: {forced}.")
    async with _db(request).session() as s:
        svc = await _service_by_id(s, request, raw)
        if forced is not None and svc.binary != "nova-compute":
            raise BadRequest("Updating 'forced_down' is only supported for 'nova-compute' services.")
        if status is not None:
            svc.disabled = status == "disabled"
            svc.disabled_reason = reason if svc.disabled else None
        if forced is not None:
            svc.forced_down = forced
        view = _service_view(request, svc, utcnow(), await host_zones(s))
    return ok({"service": view})


async def _legacy_update(request: Request, action: str, body: dict):
    """``PUT /os-services/{enable,disable,disable-log-reason,force-down}`` before 2.53."""
    actions = {"enable", "disable", "disable-log-reason"} | ({"force-down"} if at_least(request, 2, 11) else set())
    if action not in actions:
        raise NotFound("Unknown action")
    host, binary = body.get("host"), body.get("binary")
    if not isinstance(host, str) or not isinstance(binary, str):
        raise BadRequest("Invalid input: 'host' and 'binary' are required")
    async with _db(request).session() as s:
        svc = (await s.execute(select(Service).where(
            Service.host == host, Service.binary == binary))).scalar_one_or_none()
        if svc is None:
            raise NotFound(f"Compute host {host} with binary {binary} could not be found.")
        out = {"host": host, "binary": binary}
        if action == "force-down":
            if not isinstance(body.get("forced_down"), bool):
                raise BadRequest("Invalid input for field/attribute forced_down.")
            svc.forced_down = body["forced_down"]
            out["forced_down"] = svc.forced_down
            return ok({"service": out})
        svc.disabled = action != "enable"
        svc.disabled_reason = None
        if action == "disable-log-reason":
            reason = body.get("disabled_reason")
            if not isinstance(reason, str) or not 1 <= len(reason) <= 255:
                raise BadRequest("Invalid input for field/attribute disabled_reason.")
            svc.disabled_reason = out["disabled_reason"] = reason
        out["status"] = "disabled" if svc.disabled else "enabled"
    return ok({"service": out})


async def delete_service(request: Request):
    """DELETE /os-services/{id} (admin) -> 204 (a compute service takes its nodes and aggregate
    memberships along); 409 while it hosts servers, 404.
    """
    authorize(request, "os_compute_api:os-services:delete")
    async with _db(request).session() as s:
        svc = await _service_by_id(s, request, request.path_params["service_id"])
        if svc.binary == "nova-compute":
            busy = (await s.execute(select(Instance.id).where(
                Instance.host == svc.host, Instance.deleted.is_(False)))).first()
            if busy:
                raise Conflict("Unable to delete compute service that is hosting instances. "
                               "Migrate or delete the instances first.")
            for node in (await s.execute(select(ComputeNode).where(ComputeNode.host == svc.host))).scalars():
                await s.delete(node)
            await s.execute(delete(AggregateHost).where(AggregateHost.host == svc.host))
        await s.delete(svc)
    return ok(status=204)


# -- hypervisors ------------------------------------------------------------------


async def _hypervisors(request: Request):
    """(nodes, services by host, usage by (host, node), servers by (host, node))."""
    async with _db(request).session() as s:
        nodes = (await s.execute(select(ComputeNode).order_by(ComputeNode.id))).scalars().all()
        services = {x.host: x for x in (await s.execute(
            select(Service).where(Service.binary == "nova-compute"))).scalars().all()}
        usage = await node_usage(s)
        servers: dict[tuple, list] = {}
        for uuid, name, host, node in (await s.execute(select(
                Instance.uuid, Instance.display_name, Instance.host, Instance.node).where(
                Instance.deleted.is_(False), Instance.node.is_not(None)))).all():
            servers.setdefault((host, node), []).append({"uuid": uuid, "name": name})
    return nodes, services, usage, servers


def _hyp_view(request: Request, node: ComputeNode, svc: Service | None, usage: dict,
              detail: bool, servers: list | None) -> dict:
    now = utcnow()
    body = {"id": _ident(request, node), "hypervisor_hostname": node.hypervisor_hostname,
            "state": "up" if svc is not None and service_is_up(svc, now) else "down",
            "status": "disabled" if svc is not None and svc.disabled else "enabled"}
    if detail:
        reserved = request.app.state.settings.compute.reserved_host_memory_mb
        used_ram = usage.get("ram", 0) + reserved
        try:
            cpu_info = json.loads(node.cpu_info or "{}") if at_least(request, 2, 28) else node.cpu_info
        except ValueError:
            cpu_info = {}
        body.update({
            "hypervisor_type": node.hypervisor_type, "hypervisor_version": node.hypervisor_version,
            "host_ip": node.host_ip, "vcpus": node.vcpus, "vcpus_used": usage.get("vcpus", 0),
            "memory_mb": node.memory_mb, "memory_mb_used": used_ram,
            "free_ram_mb": node.memory_mb - used_ram, "local_gb": node.local_gb,
            "local_gb_used": usage.get("disk", 0),
            "free_disk_gb": node.local_gb - usage.get("disk", 0),
            "disk_available_least": node.local_gb - usage.get("disk", 0),
            "running_vms": usage.get("instances", 0), "current_workload": usage.get("workload", 0),
            "cpu_info": cpu_info,
            "service": {"host": node.host, "id": _ident(request, svc) if svc else None,
                        "disabled_reason": svc.disabled_reason if svc else None},
        })
    if servers:
        body["servers"] = servers
    return body


async def _list_hypervisors(request: Request, detail: bool):
    authorize(request, "os_compute_api:os-hypervisors:list" + ("-detail" if detail else ""))
    nodes, services, usage, servers = await _hypervisors(request)
    with_servers = at_least(request, 2, 53) and query_bool(request, "with_servers", False)
    pattern = request.query_params.get("hypervisor_hostname_pattern") if at_least(request, 2, 53) else None
    if pattern is not None:
        nodes = [n for n in nodes if pattern in n.hypervisor_hostname]
        if not nodes:
            raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    limit = limit_param(request) if at_least(request, 2, 33) else None
    marker = request.query_params.get("marker") if at_least(request, 2, 33) else None
    if marker:
        ids = [str(_ident(request, n)) for n in nodes]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found")
        nodes = nodes[ids.index(marker) + 1:]
    if limit is not None:
        nodes = nodes[:limit]
    hyps = [_hyp_view(request, n, services.get(n.host), usage.get((n.host, n.hypervisor_hostname), {}),
                      detail, servers.get((n.host, n.hypervisor_hostname)) if with_servers else None)
            for n in nodes]
    body = {"hypervisors": hyps}
    if limit is not None:
        more = next_link(request, "os-hypervisors/detail" if detail else "os-hypervisors", hyps, limit)
        if more:
            body["hypervisors_links"] = more
    return ok(body)


async def list_hypervisors(request: Request):
    """GET /os-hypervisors (admin) -> 200 {"hypervisors": [{"id", "hypervisor_hostname", "state",
    "status"}]}.
    """
    return await _list_hypervisors(request, detail=False)


async def list_hypervisors_detail(request: Request):
    """GET /os-hypervisors/detail (admin) -> 200 {"hypervisors": [full hypervisor]} (RAM in MiB, disk in
    GiB).
    """
    return await _list_hypervisors(request, detail=True)


async def _one(request: Request, raw: str):
    nodes, services, usage, servers = await _hypervisors(request)
    if at_least(request, 2, 53) and not is_uuid(raw):
        raise BadRequest(f"Invalid uuid {raw}")
    for n in nodes:
        if str(_ident(request, n)) == raw:
            return n, services.get(n.host), usage.get((n.host, n.hypervisor_hostname), {}), \
                servers.get((n.host, n.hypervisor_hostname))
    raise NotFound(f"Hypervisor with ID {raw} could not be found.")


async def show_hypervisor(request: Request):
    """GET /os-hypervisors/{id} (admin) -> 200 {"hypervisor": {...}}; 400 non-UUID id from 2.53, 404."""
    authorize(request, "os_compute_api:os-hypervisors:show")
    node, svc, usage, servers = await _one(request, request.path_params["hypervisor_id"])
    with_servers = at_least(request, 2, 53) and query_bool(request, "with_servers", False)
    return ok({"hypervisor": _hyp_view(request, node, svc, usage, True, servers if with_servers else None)})


def host_uptime(now=None) -> str:
    """This host's ``uptime`` line (" 08:32:11 up 3 days,  4:05,  0 users,  load average: 0.20, 0.12,
    0.14") from /proc/uptime and /proc/loadavg."""
    with open("/proc/uptime") as f:
        seconds = int(float(f.read().split()[0]))
    with open("/proc/loadavg") as f:
        loads = f.read().split()[:3]
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    clock = (now or utcnow()).strftime("%H:%M:%S")
    span = (f"{days} day{'s' if days != 1 else ''}, " if days else "") + f"{hours:2d}:{minutes:02d}"
    return f" {clock} up {span},  0 users,  load average: {', '.join(loads)}"


async def hypervisor_uptime(request: Request):
    """GET /os-hypervisors/{id}/uptime (admin) -> 200 {"hypervisor": {"id", "hypervisor_hostname",
    "state", "status", "uptime"}}; 404. The uptime is read from the host itself, so only a node on
    the API's own host has one (501 for a remote node: agents do not report it)."""
    authorize(request, "os_compute_api:os-hypervisors:uptime")
    node, svc, usage, _ = await _one(request, request.path_params["hypervisor_id"])
    if node.host != request.app.state.settings.common.host:
        raise NotImplementedError_("Virt driver does not implement uptime function.")
    body = _hyp_view(request, node, svc, usage, False, None)
    body["uptime"] = host_uptime()
    return ok({"hypervisor": body})


async def hypervisor_statistics(request: Request):
    """GET /os-hypervisors/statistics (admin) -> 200 {"hypervisor_statistics": sums over all nodes plus
    "count"}.
    """
    authorize(request, "os_compute_api:os-hypervisors:statistics")
    nodes, services, usage, _ = await _hypervisors(request)
    keys = ("count", "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
            "local_gb_used", "free_ram_mb", "free_disk_gb", "current_workload", "running_vms",
            "disk_available_least")
    stats = dict.fromkeys(keys, 0)
    for n in nodes:
        view = _hyp_view(request, n, services.get(n.host), usage.get((n.host, n.hypervisor_hostname), {}),
                         True, None)
        stats["count"] += 1
        for key in keys[1:]:
            stats[key] += view[key]
    return ok({"hypervisor_statistics": stats})


async def search_hypervisors(request: Request, servers: bool = False):
    """``/os-hypervisors/{pattern}/search`` and ``/servers`` (before 2.53)."""
    if at_least(request, 2, 53):
        raise NotFound("The resource could not be found.")
    authorize(request, "os_compute_api:os-hypervisors:" + ("servers" if servers else "search"))
    pattern = request.path_params["pattern"]
    nodes, services, usage, by_node = await _hypervisors(request)
    found = [n for n in nodes if pattern in n.hypervisor_hostname]
    if not found:
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return ok({"hypervisors": [_hyp_view(request, n, services.get(n.host), {}, False,
                                         by_node.get((n.host, n.hypervisor_hostname)) if servers else None)
                               for n in found]})


async def hypervisor_servers(request: Request):
    """GET /os-hypervisors/{pattern}/servers (before 2.53) -> 200 matching hypervisors with their
    servers; 404.
    """
    return await search_hypervisors(request, servers=True)


def routes() -> list[Route]:
    """The os-services and os-hypervisors routes."""
    h = "/v2.1/os-hypervisors"
    return [
        Route("/v2.1/os-services", list_services, methods=["GET"]),
        Route("/v2.1/os-services/{service_id}", update_service, methods=["PUT"]),
        Route("/v2.1/os-services/{service_id}", delete_service, methods=["DELETE"]),
        Route(h, list_hypervisors, methods=["GET"]),
        Route(h + "/detail", list_hypervisors_detail, methods=["GET"]),
        Route(h + "/statistics", hypervisor_statistics, methods=["GET"]),
        Route(h + "/{hypervisor_id}", show_hypervisor, methods=["GET"]),
        Route(h + "/{hypervisor_id}/uptime", hypervisor_uptime, methods=["GET"]),
        Route(h + "/{pattern}/search", search_hypervisors, methods=["GET"]),
        Route(h + "/{pattern}/servers", hypervisor_servers, methods=["GET"]),
    ]
