"""Usage reports (Compute API reference: "Usage reports (os-simple-tenant-usage)").

For a period ``[start, end]`` (query parameters, ISO 8601 without zone; end
defaults to now, start to a day before end) each server that existed in it
counts for the hours it existed inside it: from ``launched_at`` (or
``created_at``) to ``terminated_at`` (or now), clipped to the period, deleted
servers included. Totals per project: ``total_hours``,
``total_vcpus_usage`` (vCPU-hours), ``total_memory_mb_usage`` (MiB-hours),
``total_local_gb_usage`` (GiB-hours). From 2.40 ``limit`` / ``marker`` page
over the servers (marker: a server UUID) with a ``tenant_usages_links`` /
``tenant_usage_links`` ``next`` link.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import query_bool
from kumo.common.api.errors import BadRequest, NotFound
from kumo.common.db import utcnow
from kumo.compute.api.common import at_least, authorize, limit_param, next_link, ok
from kumo.compute.models import Instance
from kumo.compute.objects import flavor_disk_gb, nova_time

_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


def _time(request: Request, key: str) -> datetime | None:
    raw = request.query_params.get(key)
    if raw is None:
        return None
    value = raw.removesuffix("Z")
    for fmt in _FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise BadRequest(f"Invalid input for query parameters {key}. Value: {raw}. "
                     "not a valid ISO 8601 date and time")


def _period(request: Request) -> tuple[datetime, datetime]:
    end = _time(request, "end") or utcnow()
    start = _time(request, "start") or end - timedelta(days=1)
    if start > end:
        raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
    return start, end


def _server_usage(inst: Instance, start: datetime, end: datetime, now: datetime) -> dict | None:
    """One server's usage inside the period, None if it did not exist in it."""
    began = inst.launched_at or inst.created_at
    ended = inst.terminated_at or (inst.deleted_at if inst.deleted else None)
    stop = min(ended or now, end, now)
    first = max(began, start)
    if (ended is not None and ended < start) or began > end:
        return None
    hours = max((stop - first).total_seconds(), 0) / 3600
    flavor = inst.flavor or {}
    state = "terminated" if inst.deleted else inst.vm_state
    return {"instance_id": inst.uuid, "name": inst.display_name, "tenant_id": inst.project_id,
            "hours": hours, "vcpus": int(flavor.get("vcpus", 0)), "memory_mb": int(flavor.get("ram", 0)),
            "local_gb": flavor_disk_gb(flavor), "flavor": flavor.get("name") or inst.flavor_id,
            "started_at": nova_time(began), "ended_at": nova_time(ended), "state": state,
            "uptime": int(((ended or now) - began).total_seconds())}


async def _usages(request: Request, project: str | None) -> tuple[datetime, datetime, list[dict], int | None]:
    """(start, end, server usages in the period, page size or None) for one project or all."""
    start, end = _period(request)
    stmt = select(Instance).order_by(Instance.id)
    if project is not None:
        stmt = stmt.where(Instance.project_id == project)
    async with request.app.state.db.session() as s:
        rows = (await s.execute(stmt)).scalars().all()
    now = utcnow()
    found = [u for u in (_server_usage(i, start, end, now) for i in rows) if u is not None]
    limit = None
    if at_least(request, 2, 40):
        marker = request.query_params.get("marker")
        if marker:
            ids = [u["instance_id"] for u in found]
            if marker not in ids:
                raise BadRequest(f"marker [{marker}] not found")
            found = found[ids.index(marker) + 1:]
        limit = limit_param(request)
        found = found[:limit]
    return start, end, found, limit


def _totals(project: str, start: datetime, end: datetime, servers: list[dict], detailed: bool) -> dict:
    body = {"tenant_id": project, "start": nova_time(start), "stop": nova_time(end),
            "total_hours": sum(u["hours"] for u in servers),
            "total_vcpus_usage": sum(u["hours"] * u["vcpus"] for u in servers),
            "total_memory_mb_usage": sum(u["hours"] * u["memory_mb"] for u in servers),
            "total_local_gb_usage": sum(u["hours"] * u["local_gb"] for u in servers)}
    if detailed:
        body["server_usages"] = servers
    return body


def _links(request: Request, collection: str, servers: list[dict], limit: int | None) -> list[dict]:
    if limit is None:
        return []
    return next_link(request, collection, servers, limit, key="instance_id")


async def list_usage(request: Request):
    """GET /os-simple-tenant-usage?start=&end=&detailed= (admin) -> 200 {"tenant_usages": [per
    project totals (+ "server_usages" when detailed)]}; 400 bad dates, 403."""
    authorize(request, "os_compute_api:os-simple-tenant-usage:list")
    start, end, servers, limit = await _usages(request, None)
    detailed = query_bool(request, "detailed", False)
    by_project: dict[str, list[dict]] = {}
    for u in servers:
        by_project.setdefault(u["tenant_id"], []).append(u)
    body = {"tenant_usages": [_totals(p, start, end, us, detailed) for p, us in by_project.items()]}
    more = _links(request, "os-simple-tenant-usage", servers, limit)
    if more:
        body["tenant_usages_links"] = more
    return ok(body)


async def show_usage(request: Request):
    """GET /os-simple-tenant-usage/{project}?start=&end= -> 200 {"tenant_usage": totals with
    "server_usages"} ({} without usage); 400 bad dates, 403 another project unless admin."""
    project = request.path_params["project_id"]
    authorize(request, "os_compute_api:os-simple-tenant-usage:show", {"project_id": project})
    start, end, servers, limit = await _usages(request, project)
    body = {"tenant_usage": _totals(project, start, end, servers, True) if servers else {}}
    more = _links(request, f"os-simple-tenant-usage/{project}", servers, limit)
    if more:
        body["tenant_usage_links"] = more
    return ok(body)


async def no_project(request: Request):
    """GET /os-simple-tenant-usage/ (an empty project id) -> 404, as nova."""
    raise NotFound("The resource could not be found.")


def routes() -> list[Route]:
    """The os-simple-tenant-usage routes."""
    return [
        Route("/v2.1/os-simple-tenant-usage", list_usage, methods=["GET"]),
        Route("/v2.1/os-simple-tenant-usage/", no_project, methods=["GET"]),
        Route("/v2.1/os-simple-tenant-usage/{project_id}", show_usage, methods=["GET"]),
    ]
