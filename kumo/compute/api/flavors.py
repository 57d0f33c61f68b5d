"""Flavors (Compute API reference: "Flavors", "Flavors extra-specs", "Flavors access").

Routes under ``/v2.1/flavors``: list (brief and ``/detail``; filters
``minRam``, ``minDisk``, ``is_public`` (admin; ``none`` = all), ``sort_key``,
``sort_dir``, ``limit``, ``marker``), show, create/update (2.55)/delete
(admin), ``os-extra_specs`` (read by anyone who sees the flavor, written by
admins), ``os-flavor-access`` and the ``addTenantAccess`` /
``removeTenantAccess`` actions (admin). Nothing is seeded: operators create
flavors through this API.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body, query_int
from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.db import utcnow
from kumo.compute.api.common import at_least, authorize, is_admin, limit_param, next_link, ok, version
from kumo.compute.api.views import flavor_view
from kumo.compute.models import Flavor, FlavorAccess, new_uuid
from kumo.compute.schemas import (parse_extra_specs, parse_flavor_create, parse_flavor_update,
                                  single_item)
from kumo.compute.service import flavor_for

_SORT_KEYS = {"created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id",
              "is_public", "memory_mb", "name", "root_gb", "rxtx_factor", "swap", "updated_at",
              "vcpus"}


def _db(request: Request):
    return request.app.state.db


def _not_found(flavorid: str) -> NotFound:
    return NotFound(f"Flavor {flavorid} could not be found.")


def _is_public_filter(request: Request, admin: bool) -> bool | None:
    raw = request.query_params.get("is_public")
    if not admin or raw is None:
        return True
    low = raw.lower()
    if low == "none":
        return None
    if low in ("1", "true", "t", "yes", "y", "on"):
        return True
    if low in ("0", "false", "f", "no", "n", "off"):
        return False
    raise BadRequest(f"Invalid is_public filter [{raw}]")


async def _list(request: Request, detail: bool):
    ctx, admin = context(request), is_admin(request)
    is_public = _is_public_filter(request, admin)
    min_ram, min_disk = query_int(request, "minRam"), query_int(request, "minDisk")
    sort_key = request.query_params.get("sort_key", "flavorid")
    sort_dir = request.query_params.get("sort_dir", "asc")
    if sort_key not in _SORT_KEYS:
        raise BadRequest(f"Invalid input for query parameters sort_key. Value: {sort_key}.")
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid input for query parameters sort_dir. Value: {sort_dir}.")
    limit = limit_param(request)
    async with _db(request).session() as s:
        flavors = list((await s.execute(select(Flavor))).scalars().all())
        granted = set((await s.execute(select(FlavorAccess.flavor_id).where(
            FlavorAccess.project_id == ctx.project_id))).scalars().all())
    if is_public is True:
        flavors = [f for f in flavors if f.is_public or f.id in granted]
    elif is_public is False:
        flavors = [f for f in flavors if not f.is_public]
    if not admin:
        flavors = [f for f in flavors if not f.disabled]
    if min_ram is not None:
        flavors = [f for f in flavors if f.memory_mb >= min_ram]
    if min_disk is not None:
        flavors = [f for f in flavors if f.root_gb >= min_disk]
    def sort_value(f):
        value = getattr(f, sort_key)
        return (value is None, value if value is not None else "", f.id)

    flavors.sort(key=sort_value, reverse=sort_dir == "desc")
    marker = request.query_params.get("marker")
    if marker:
        ids = [f.flavorid for f in flavors]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found")
        flavors = flavors[ids.index(marker) + 1:]
    flavors = flavors[:limit]
    body = {"flavors": [flavor_view(request, f, detail) for f in flavors]}
    more = next_link(request, "flavors/detail" if detail else "flavors", body["flavors"], limit)
    if more:
        body["flavors_links"] = more
    return ok(body)


async def list_flavors(request: Request):
    """GET /flavors -> 200 {"flavors": [{"id", "name", "links"(, "description" 2.55+)}],
    "flavors_links"?}; 400 bad filter/marker.
    """
    return await _list(request, detail=False)


async def list_flavors_detail(request: Request):
    """GET /flavors/detail -> 200 {"flavors": [full flavor]} (see views.flavor_view); 400 bad
    filter/marker.
    """
    return await _list(request, detail=True)


async def _visible(request: Request, flavorid: str) -> Flavor:
    async with _db(request).session() as s:
        flavor = await flavor_for(s, flavorid, context(request).project_id, is_admin(request))
    if flavor is None:
        raise _not_found(flavorid)
    return flavor


async def show_flavor(request: Request):
    """GET /flavors/{id} -> 200 {"flavor": {...}}; 404 unknown or private without access."""
    flavor = await _visible(request, request.path_params["flavor_id"])
    return ok({"flavor": flavor_view(request, flavor)})


async def create_flavor(request: Request):
    """POST /flavors (admin) -> 200 {"flavor": {...}}; 400 invalid body, 403 non-admin, 409 name/id taken."""
    authorize(request, "os_compute_api:os-flavor-manage:create")
    values = parse_flavor_create(await json_body(request, "flavor"), version(request))
    values["flavorid"] = values["flavorid"] or new_uuid()
    try:
        async with _db(request).session() as s:
            for column, label in (("flavorid", "ID"), ("name", "name")):
                clash = (await s.execute(select(Flavor.id).where(
                    getattr(Flavor, column) == values[column]))).first()
                if clash:
                    raise Conflict(f"Flavor with {label} {values[column]} already exists.")
            flavor = Flavor(**values, extra_specs={})
            s.add(flavor)
    except IntegrityError:
        raise Conflict(f"Flavor with name {values['name']} already exists.") from None
    return ok({"flavor": flavor_view(request, flavor)})


async def update_flavor(request: Request):
    """PUT /flavors/{id} (2.55+, admin) {"flavor": {"description"}} -> 200 {"flavor": {...}}; 403, 404."""
    if not at_least(request, 2, 55):
        raise NotFound("The resource could not be found.")
    authorize(request, "os_compute_api:os-flavor-manage:update")
    description = parse_flavor_update(await json_body(request, "flavor"))
    flavorid = request.path_params["flavor_id"]
    async with _db(request).session() as s:
        flavor = (await s.execute(select(Flavor).where(Flavor.flavorid == flavorid))).scalar_one_or_none()
        if flavor is None:
            raise _not_found(flavorid)
        flavor.description = description
        flavor.updated_at = utcnow()
    return ok({"flavor": flavor_view(request, flavor)})


async def delete_flavor(request: Request):
    """DELETE /flavors/{id} (admin) -> 202; 403, 404. Servers keep their flavor copy."""
    authorize(request, "os_compute_api:os-flavor-manage:delete")
    flavorid = request.path_params["flavor_id"]
    async with _db(request).session() as s:
        flavor = (await s.execute(select(Flavor).where(Flavor.flavorid == flavorid))).scalar_one_or_none()
        if flavor is None:
            raise _not_found(flavorid)
        await s.delete(flavor)
    return ok(status=202)


async def list_extra_specs(request: Request):
    """GET /flavors/{id}/os-extra_specs -> 200 {"extra_specs": {key: value}}; 403, 404."""
    authorize(request, "os_compute_api:os-flavor-extra-specs:index")
    flavor = await _visible(request, request.path_params["flavor_id"])
    return ok({"extra_specs": dict(flavor.extra_specs or {})})


async def _change_specs(request: Request, flavorid: str, new: dict | None = None,
                        remove: str | None = None) -> None:
    async with _db(request).session() as s:
        flavor = (await s.execute(select(Flavor).where(Flavor.flavorid == flavorid))).scalar_one_or_none()
        if flavor is None:
            raise _not_found(flavorid)
        specs = dict(flavor.extra_specs or {})
        if remove is not None:
            if remove not in specs:
                raise NotFound(f"Flavor {flavorid} has no extra specs with key {remove}.")
            del specs[remove]
        specs.update(new or {})
        flavor.extra_specs = specs
        flavor.updated_at = utcnow()


async def create_extra_specs(request: Request):
    """POST /flavors/{id}/os-extra_specs (admin) {"extra_specs": {...}} -> 200 the given specs; 400,
    403, 404.
    """
    authorize(request, "os_compute_api:os-flavor-extra-specs:create")
    body = await json_body(request, "extra_specs")
    specs = parse_extra_specs(body)
    await _change_specs(request, request.path_params["flavor_id"], specs)
    return ok({"extra_specs": specs})


async def show_extra_spec(request: Request):
    """GET /flavors/{id}/os-extra_specs/{key} -> 200 {key: value}; 403, 404 flavor or key."""
    authorize(request, "os_compute_api:os-flavor-extra-specs:show")
    flavor = await _visible(request, request.path_params["flavor_id"])
    key = request.path_params["key"]
    if key not in (flavor.extra_specs or {}):
        raise NotFound(f"Flavor {flavor.flavorid} has no extra specs with key {key}.")
    return ok({key: flavor.extra_specs[key]})


async def update_extra_spec(request: Request):
    """PUT /flavors/{id}/os-extra_specs/{key} (admin) {key: value} -> 200 {key: value}; 400 body/URI
    mismatch.
    """
    authorize(request, "os_compute_api:os-flavor-extra-specs:update")
    key = request.path_params["key"]
    specs = parse_extra_specs(single_item(await json_body(request), key))
    await _change_specs(request, request.path_params["flavor_id"], specs)
    return ok(specs)


async def delete_extra_spec(request: Request):
    """DELETE /flavors/{id}/os-extra_specs/{key} (admin) -> 200 (no body); 404 flavor or key."""
    authorize(request, "os_compute_api:os-flavor-extra-specs:delete")
    await _change_specs(request, request.path_params["flavor_id"], remove=request.path_params["key"])
    return ok(status=200)


async def _access_list(s, flavor: Flavor) -> list[dict]:
    projects = (await s.execute(select(FlavorAccess.project_id).where(
        FlavorAccess.flavor_id == flavor.id).order_by(FlavorAccess.id))).scalars().all()
    return [{"flavor_id": flavor.flavorid, "tenant_id": p} for p in projects]


async def list_flavor_access(request: Request):
    """GET /flavors/{id}/os-flavor-access (admin) -> 200 {"flavor_access": [{"flavor_id",
    "tenant_id"}]}; 404 for a public flavor.
    """
    authorize(request, "os_compute_api:os-flavor-access")
    flavorid = request.path_params["flavor_id"]
    async with _db(request).session() as s:
        flavor = (await s.execute(select(Flavor).where(Flavor.flavorid == flavorid))).scalar_one_or_none()
        if flavor is None:
            raise _not_found(flavorid)
        if flavor.is_public:
            raise NotFound("Access list not available for public flavors.")
        return ok({"flavor_access": await _access_list(s, flavor)})


async def flavor_action(request: Request):
    """POST /flavors/{id}/action {"addTenantAccess"|"removeTenantAccess": {"tenant"}} (admin) -> 200
    {"flavor_access": [...]}; 404, 409.
    """
    flavorid = request.path_params["flavor_id"]
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body")
    action, args = next(iter(body.items()))
    if action not in ("addTenantAccess", "removeTenantAccess"):
        raise BadRequest(f"There is no such action: {action}")
    rule = "add_tenant_access" if action == "addTenantAccess" else "remove_tenant_access"
    authorize(request, f"os_compute_api:os-flavor-access:{rule}")
    if not isinstance(args, dict) or not isinstance(args.get("tenant"), str) or not args["tenant"]:
        raise BadRequest(f"Invalid input for field/attribute {action}. Value: {args}. "
                         "'tenant' is a required property")
    project = args["tenant"]
    async with _db(request).session() as s:
        flavor = (await s.execute(select(Flavor).where(Flavor.flavorid == flavorid))).scalar_one_or_none()
        if flavor is None:
            raise _not_found(flavorid)
        row = (await s.execute(select(FlavorAccess).where(
            FlavorAccess.flavor_id == flavor.id, FlavorAccess.project_id == project))).scalar_one_or_none()
        if action == "addTenantAccess":
            if flavor.is_public:
                raise Conflict("Can not add access to a public flavor.")
            if row is not None:
                raise Conflict(f"Flavor access already exists for flavor {flavorid} and project "
                               f"{project} combination.")
            s.add(FlavorAccess(flavor_id=flavor.id, project_id=project))
        else:
            if row is None:
                raise NotFound(f"Flavor access not found for {flavorid} / {project} combination.")
            await s.delete(row)
        await s.flush()
        return ok({"flavor_access": await _access_list(s, flavor)})


def routes() -> list[Route]:
    """The flavor routes (under /v2.1)."""
    p = "/v2.1/flavors"
    return [
        Route(p, list_flavors, methods=["GET"]),
        Route(p, create_flavor, methods=["POST"]),
        Route(p + "/detail", list_flavors_detail, methods=["GET"]),
        Route(p + "/{flavor_id}", show_flavor, methods=["GET"]),
        Route(p + "/{flavor_id}", update_flavor, methods=["PUT"]),
        Route(p + "/{flavor_id}", delete_flavor, methods=["DELETE"]),
        Route(p + "/{flavor_id}/action", flavor_action, methods=["POST"]),
        Route(p + "/{flavor_id}/os-flavor-access", list_flavor_access, methods=["GET"]),
        Route(p + "/{flavor_id}/os-extra_specs", list_extra_specs, methods=["GET"]),
        Route(p + "/{flavor_id}/os-extra_specs", create_extra_specs, methods=["POST"]),
        Route(p + "/{flavor_id}/os-extra_specs/{key}", show_extra_spec, methods=["GET"]),
        Route(p + "/{flavor_id}/os-extra_specs/{key}", update_extra_spec, methods=["PUT"]),
        Route(p + "/{flavor_id}/os-extra_specs/{key}", delete_extra_spec, methods=["DELETE"]),
    ]
