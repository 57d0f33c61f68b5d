"""Quota sets and quota class sets (Compute API reference: "Quota sets (os-quota-sets)",
"Quota class sets (os-quota-class-sets)").

Limits are per project, optionally per user (``?user_id=``), on top of the
quota class ``default`` (:mod:`kumo.compute.quotas`). Resources follow the
microversion: network ones until 2.35 (quota classes: until 2.49, where
server groups appear), personality files until 2.56. Values are integers,
``-1`` for unlimited; RAM in MiB.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest
from kumo.compute import quotas
from kumo.compute.api.common import authorize, ok, version


def _db(request: Request):
    return request.app.state.db


def _target(request: Request, rule: str) -> tuple:
    """``(ctx, project, user)`` for the URL's project once ``os-quota-sets:<rule>`` allows it."""
    project = request.path_params["project_id"]
    ctx = authorize(request, f"os_compute_api:os-quota-sets:{rule}", {"project_id": project})
    return ctx, project, request.query_params.get("user_id") or None


def _view(ident: str | None, limits: dict, keys: list[str]) -> dict:
    body = {"id": ident} if ident is not None else {}
    body.update({k: limits[k] for k in keys})
    return body


async def show_quota_set(request: Request):
    """GET /os-quota-sets/{project_id}[?user_id=] -> 200 {"quota_set": {"id", "instances", "cores",
    "ram", ...}}; 403 for another project unless admin."""
    _, project, user = _target(request, "show")
    async with _db(request).session() as s:
        limits = await quotas.limits_for(s, project, user)
    return ok({"quota_set": _view(project, limits, quotas.resources(version(request)))})


async def show_quota_defaults(request: Request):
    """GET /os-quota-sets/{project_id}/defaults -> 200 {"quota_set": the class ``default`` limits}."""
    _, project, _ = _target(request, "defaults")
    async with _db(request).session() as s:
        limits = await quotas.class_limits(s)
    return ok({"quota_set": _view(project, limits, quotas.resources(version(request)))})


async def show_quota_detail(request: Request):
    """GET /os-quota-sets/{project_id}/detail[?user_id=] -> 200 each resource as {"limit", "in_use",
    "reserved": 0}."""
    ctx, project, user = _target(request, "detail")
    async with _db(request).session() as s:
        limits = await quotas.limits_for(s, project, user)
        used = await quotas.usage(s, project, user)
        if not user:  # key pairs belong to users: count the caller's (nova does the same)
            used["key_pairs"] = (await quotas.usage(s, project, ctx.user_id))["key_pairs"]
    body = {"id": project}
    for key in quotas.resources(version(request)):
        body[key] = {"limit": limits[key], "in_use": used.get(key, 0), "reserved": 0}
    return ok({"quota_set": body})


async def update_quota_set(request: Request):
    """PUT /os-quota-sets/{project_id}[?user_id=] (admin) {"quota_set": {resource: int, "force"}} ->
    200 {"quota_set": every limit (no "id")}; 400 bad value or under usage without force, 403."""
    _, project, user = _target(request, "update")
    data = await json_body(request, "quota_set")
    if not isinstance(data, dict):
        raise BadRequest("Malformed request body")
    data = dict(data)
    force = data.pop("force", False)
    if isinstance(force, str) and force.lower() in ("true", "false", "1", "0"):
        force = force.lower() in ("true", "1")
    if not isinstance(force, bool):
        raise BadRequest(f"Invalid input for field/attribute force. Value: {force}. "
                         f"{force!r} is not of type 'boolean', 'string'")
    keys = quotas.resources(version(request))
    values = quotas.parse_limits(data, keys)
    async with _db(request).session() as s:
        await quotas.set_limits(s, project, user, values, force)
        await s.flush()
        limits = await quotas.limits_for(s, project, user)
    return ok({"quota_set": _view(None, limits, keys)})


async def delete_quota_set(request: Request):
    """DELETE /os-quota-sets/{project_id}[?user_id=] (admin) -> 202; the limits revert to the
    defaults."""
    _, project, user = _target(request, "delete")
    async with _db(request).session() as s:
        await quotas.clear_limits(s, project, user)
    return ok(status=202)


def _class_keys(request: Request) -> list[str]:
    """Quota class resources: network ones until 2.49, server groups from 2.50, files until 2.56."""
    v = version(request)
    keys = [k for k in quotas.resources(max(v, (2, 36)))]
    if v < (2, 50):
        keys = [k for k in keys if k not in ("server_groups", "server_group_members")]
        keys += list(quotas.NETWORK_RESOURCES)
    return keys


async def show_quota_class(request: Request):
    """GET /os-quota-class-sets/{class} -> 200 {"quota_class_set": {"id": class, resource: int}};
    403 unless admin (or the caller's own class)."""
    name = request.path_params["class_name"]
    authorize(request, "os_compute_api:os-quota-class-sets:show", {"quota_class": name})
    async with _db(request).session() as s:
        limits = await quotas.class_limits(s, name)
    return ok({"quota_class_set": _view(name, limits, _class_keys(request))})


async def update_quota_class(request: Request):
    """PUT /os-quota-class-sets/{class} (admin) {"quota_class_set": {resource: int}} -> 200
    {"quota_class_set": every limit (no "id")}; 400, 403."""
    name = request.path_params["class_name"]
    authorize(request, "os_compute_api:os-quota-class-sets:update", {"quota_class": name})
    if len(name) > 255:
        raise BadRequest("Quota class name is too long")
    data = await json_body(request, "quota_class_set")
    if not isinstance(data, dict):
        raise BadRequest("Malformed request body")
    keys = _class_keys(request)
    values = quotas.parse_limits(data, keys)
    async with _db(request).session() as s:
        await quotas.set_class_limits(s, name, values)
        await s.flush()
        limits = await quotas.class_limits(s, name)
    return ok({"quota_class_set": _view(None, limits, keys)})


def routes() -> list[Route]:
    """The os-quota-sets and os-quota-class-sets routes."""
    q = "/v2.1/os-quota-sets/{project_id}"
    c = "/v2.1/os-quota-class-sets/{class_name}"
    return [
        Route(q, show_quota_set, methods=["GET"]),
        Route(q, update_quota_set, methods=["PUT"]),
        Route(q, delete_quota_set, methods=["DELETE"]),
        Route(q + "/defaults", show_quota_defaults, methods=["GET"]),
        Route(q + "/detail", show_quota_detail, methods=["GET"]),
        Route(c, show_quota_class, methods=["GET"]),
        Route(c, update_quota_class, methods=["PUT"]),
    ]
