"""Host aggregates and availability zones (Compute API reference: "Host aggregates (os-aggregates)",
"Availability zones (os-availability-zone)").

Aggregates are admin-only. An aggregate body is ``{"id" (int), "uuid" (2.41+), "name",
"availability_zone" (or null), "hosts", "metadata", "created_at", "updated_at", "deleted_at",
"deleted"}``. Zones come from aggregates' ``availability_zone`` metadata
(:mod:`kumo.compute.aggregates`); compute hosts in no zone are in ``nova``.
"""
from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest
from kumo.common.db import utcnow
from kumo.compute import aggregates as aggs
from kumo.compute.api.common import at_least, authorize, ok
from kumo.compute.models import Aggregate, Service
from kumo.compute.objects import nova_time
from kumo.compute.schemas import check_extra, name_value
from kumo.compute.service import service_is_up


def _db(request: Request):
    return request.app.state.db


def _view(request: Request, agg: Aggregate, hosts: list[str] | None) -> dict:
    body = {"id": agg.id, "name": agg.name, "availability_zone": (agg.meta or {}).get(aggs.ZONE_KEY),
            "created_at": nova_time(agg.created_at), "updated_at": nova_time(agg.updated_at),
            "deleted_at": None, "deleted": False}
    if at_least(request, 2, 41):
        body["uuid"] = agg.uuid
    if hosts is not None:
        body["hosts"] = hosts
        body["metadata"] = dict(agg.meta or {})
    return body


def _zone_value(data: dict) -> str | None:
    if data.get("availability_zone") is None:
        return None
    return name_value(data, "availability_zone")


async def list_aggregates(request: Request):
    """GET /os-aggregates (admin) -> 200 {"aggregates": [aggregate with hosts and metadata]}."""
    authorize(request, "os_compute_api:os-aggregates:index")
    async with _db(request).session() as s:
        rows = (await s.execute(select(Aggregate).order_by(Aggregate.id))).scalars().all()
        return ok({"aggregates": [_view(request, a, await aggs.aggregate_hosts(s, a.id)) for a in rows]})


async def create_aggregate(request: Request):
    """POST /os-aggregates (admin) {"aggregate": {"name", "availability_zone"?}} -> 200 {"aggregate":
    {... without hosts and metadata}}; 400 bad name, 403, 409 name taken."""
    authorize(request, "os_compute_api:os-aggregates:create")
    data = await json_body(request, "aggregate")
    check_extra(data, {"name", "availability_zone"})
    name, zone = name_value(data, "name"), _zone_value(data)
    async with _db(request).session() as s:
        await aggs.check_name(s, name)
        if zone == aggs.INTERNAL_ZONE:
            raise BadRequest(f"The availability zone {zone} is reserved for internal services.")
        agg = Aggregate(name=name, meta={aggs.ZONE_KEY: zone} if zone else {})
        s.add(agg)
        await s.flush()
    return ok({"aggregate": _view(request, agg, None)})


async def show_aggregate(request: Request):
    """GET /os-aggregates/{id} (admin) -> 200 {"aggregate": {...}}; 404."""
    authorize(request, "os_compute_api:os-aggregates:show")
    async with _db(request).session() as s:
        agg = await aggs.get(s, request.path_params["aggregate_id"])
        return ok({"aggregate": _view(request, agg, await aggs.aggregate_hosts(s, agg.id))})


async def update_aggregate(request: Request):
    """PUT /os-aggregates/{id} (admin) {"aggregate": {"name"?, "availability_zone"?}} -> 200
    {"aggregate": {...}}; 400 (empty body, zone conflict), 404, 409 name taken."""
    authorize(request, "os_compute_api:os-aggregates:update")
    data = await json_body(request, "aggregate")
    check_extra(data, {"name", "availability_zone"})
    if not data:
        raise BadRequest("Invalid input for field/attribute aggregate. Value: {}. "
                         "{} does not have enough properties")
    async with _db(request).session() as s:
        agg = await aggs.get(s, request.path_params["aggregate_id"])
        if "name" in data:
            name = name_value(data, "name")
            await aggs.check_name(s, name, exclude=agg.id)
            agg.name = name
        if "availability_zone" in data:
            await aggs.set_metadata(s, agg, {aggs.ZONE_KEY: _zone_value(data)}, "update_aggregate")
        agg.updated_at = utcnow()
        return ok({"aggregate": _view(request, agg, await aggs.aggregate_hosts(s, agg.id))})


async def delete_aggregate(request: Request):
    """DELETE /os-aggregates/{id} (admin) -> 200; 400 while it has hosts, 404."""
    authorize(request, "os_compute_api:os-aggregates:delete")
    async with _db(request).session() as s:
        agg = await aggs.get(s, request.path_params["aggregate_id"])
        if await aggs.aggregate_hosts(s, agg.id):
            raise BadRequest(f"Cannot perform action 'delete' on aggregate {agg.id}. Reason: "
                             "Host aggregate is not empty.")
        await s.delete(agg)
    return ok(status=200)


def _metadata(value) -> dict[str, str | None]:
    if not isinstance(value, dict) or not value:
        raise BadRequest(f"Invalid input for field/attribute metadata. Value: {value}. "
                         "must be a non-empty object")
    for key, item in value.items():
        if not 1 <= len(key) <= 255:
            raise BadRequest(f"Invalid input for field/attribute metadata. Value: {value}. "
                             f"key {key!r} must be 1 to 255 characters")
        if item is not None and (not isinstance(item, str) or len(item) > 255):
            raise BadRequest(f"Invalid input for field/attribute metadata. Value: {value}. "
                             f"value of {key!r} must be a string of at most 255 characters or null")
    return value


async def aggregate_action(request: Request):
    """POST /os-aggregates/{id}/action {"add_host": {"host"}} | {"remove_host": {"host"}} |
    {"set_metadata": {"metadata": {key: value or null}}} (admin) -> 200 {"aggregate": {...}};
    400, 403, 404 (aggregate, host), 409 (host already in it or in another zone)."""
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body")
    action, args = next(iter(body.items()))
    if action not in ("add_host", "remove_host", "set_metadata"):
        raise BadRequest(f"There is no such action: {action}")
    authorize(request, f"os_compute_api:os-aggregates:{action}")
    if not isinstance(args, dict):
        raise BadRequest(f"Invalid input for field/attribute {action}. Value: {args}.")
    async with _db(request).session() as s:
        agg = await aggs.get(s, request.path_params["aggregate_id"])
        if action == "set_metadata":
            check_extra(args, {"metadata"})
            await aggs.set_metadata(s, agg, _metadata(args.get("metadata")), action)
        else:
            check_extra(args, {"host"})
            host = name_value(args, "host")
            await (aggs.add_host if action == "add_host" else aggs.remove_host)(s, agg, host)
        await s.flush()
        return ok({"aggregate": _view(request, agg, await aggs.aggregate_hosts(s, agg.id))})


# -- availability zones ------------------------------------------------------------


async def _zones(request: Request, detail: bool) -> list[dict]:
    async with _db(request).session() as s:
        services = (await s.execute(select(Service).order_by(Service.id))).scalars().all()
        zones_by_host = await aggs.host_zones(s)
    now = utcnow()
    members: dict[str, list[Service]] = {}
    for svc in services:
        if svc.binary == "nova-compute":
            zone = zones_by_host.get(svc.host, aggs.DEFAULT_ZONE)
        elif detail:
            zone = aggs.INTERNAL_ZONE
        else:
            continue
        members.setdefault(zone, []).append(svc)
    out = []
    for zone in sorted(members, key=lambda z: (z != aggs.INTERNAL_ZONE, z)):
        svcs = members[zone]
        available = zone == aggs.INTERNAL_ZONE or any(not x.disabled for x in svcs)
        hosts = None
        if detail:
            hosts = {}
            for x in svcs:
                hosts.setdefault(x.host, {})[x.binary] = {
                    "available": not x.disabled, "active": service_is_up(x, now),
                    "updated_at": nova_time(x.updated_at)}
        out.append({"zoneName": zone, "zoneState": {"available": available}, "hosts": hosts})
    return out


async def list_zones(request: Request):
    """GET /os-availability-zone -> 200 {"availabilityZoneInfo": [{"zoneName", "zoneState":
    {"available"}, "hosts": null}]} (zones holding compute services)."""
    authorize(request, "os_compute_api:os-availability-zone:list")
    return ok({"availabilityZoneInfo": await _zones(request, detail=False)})


async def list_zones_detail(request: Request):
    """GET /os-availability-zone/detail (admin) -> zones (with "internal") and {host: {binary:
    {"available", "active", "updated_at"}}}."""
    authorize(request, "os_compute_api:os-availability-zone:detail")
    return ok({"availabilityZoneInfo": await _zones(request, detail=True)})


def routes() -> list[Route]:
    """The os-aggregates and os-availability-zone routes."""
    a = "/v2.1/os-aggregates"
    return [
        Route(a, list_aggregates, methods=["GET"]),
        Route(a, create_aggregate, methods=["POST"]),
        Route(a + "/{aggregate_id}", show_aggregate, methods=["GET"]),
        Route(a + "/{aggregate_id}", update_aggregate, methods=["PUT"]),
        Route(a + "/{aggregate_id}", delete_aggregate, methods=["DELETE"]),
        Route(a + "/{aggregate_id}/action", aggregate_action, methods=["POST"]),
        Route("/v2.1/os-availability-zone", list_zones, methods=["GET"]),
        Route("/v2.1/os-availability-zone/detail", list_zones_detail, methods=["GET"]),
    ]
