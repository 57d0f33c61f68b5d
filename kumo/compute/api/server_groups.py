"""Server groups (Compute API reference: "Server groups (os-server-groups)").

A group body is ``{"id", "name", "policies": [policy], "members": [server UUIDs], "metadata": {}}``,
with ``project_id`` and ``user_id`` from 2.13; from 2.64 ``"policy"`` and
``"rules"`` (``{"max_server_per_host": n}`` for anti-affinity) replace
``policies`` and ``metadata``. Soft policies exist from 2.15. Groups count
against the ``server_groups`` quota (403); placement is the scheduler's
(:mod:`kumo.compute.scheduler.constraints`).
"""
from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body, query_bool
from kumo.common.api.errors import BadRequest
from kumo.compute import quotas, server_groups as groups
from kumo.compute.api.common import at_least, authorize, is_admin, ok, version
from kumo.compute.models import ServerGroup
from kumo.compute.schemas import check_extra, invalid, name_value


def _db(request: Request):
    return request.app.state.db


def _view(request: Request, group: ServerGroup, members: list[str]) -> dict:
    body = {"id": group.uuid, "name": group.name, "members": members}
    if at_least(request, 2, 64):
        body.update({"policy": group.policy, "rules": dict(group.rules or {})})
    else:
        body.update({"policies": [group.policy], "metadata": {}})
    if at_least(request, 2, 13):
        body.update({"project_id": group.project_id, "user_id": group.user_id})
    return body


def _parse_create(request: Request, data: dict) -> tuple[str, str, dict]:
    """``(name, policy, rules)`` of a create body; 400 with nova's schema wording."""
    v = version(request)
    allowed_policies = [p for p, since in groups.POLICIES.items() if v >= since]
    new_style = v >= (2, 64)
    check_extra(data, {"name", "policy", "rules"} if new_style else {"name", "policies"})
    name = name_value(data, "name")
    rules: dict = {}
    if new_style:
        policy = data.get("policy")
        if policy not in allowed_policies:
            raise invalid("policy", policy, f"{policy!r} is not one of {allowed_policies}")
        raw = data.get("rules", {})
        if not isinstance(raw, dict):
            raise invalid("rules", raw, f"{raw!r} is not of type 'object'")
        check_extra(raw, {"max_server_per_host"})
        if raw and policy != "anti-affinity":
            raise BadRequest(f"Only anti-affinity policy supports rules; policy {policy} does not.")
        if "max_server_per_host" in raw:
            n = raw["max_server_per_host"]
            if isinstance(n, str) and n.isdigit():
                n = int(n)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise invalid("max_server_per_host", raw["max_server_per_host"],
                              "must be an integer of at least 1")
            rules["max_server_per_host"] = n
    else:
        policies = data.get("policies")
        if not isinstance(policies, list) or len(policies) != 1:
            raise invalid("policies", policies, "must be a list of exactly one policy")
        policy = policies[0]
        if policy not in allowed_policies:
            raise invalid("policies", policies, f"{policy!r} is not one of {allowed_policies}")
    return name, policy, rules


async def create_group(request: Request):
    """POST /os-server-groups {"server_group": {"name", "policies": [p]} (2.64+: "policy", "rules")}
    -> 200 {"server_group": {...}}; 400, 403 (policy or quota)."""
    ctx = authorize(request, "os_compute_api:os-server-groups:create")
    name, policy, rules = _parse_create(request, await json_body(request, "server_group"))
    async with _db(request).session() as s:
        await quotas.check_server_groups(s, ctx.project_id, ctx.user_id)
        group = ServerGroup(name=name, project_id=ctx.project_id, user_id=ctx.user_id,
                            policy=policy, rules=rules)
        s.add(group)
        await s.flush()
    return ok({"server_group": _view(request, group, [])})


async def _visible(request: Request, s, rule: str) -> ServerGroup:
    """The URL's group: 404 unless the caller's project owns it (or admin), then the policy."""
    ctx = authorize(request, f"os_compute_api:os-server-groups:{rule}")
    group = await groups.get(s, request.path_params["group_id"])
    if group.project_id != ctx.project_id and not is_admin(request):
        raise groups.not_found(group.uuid)
    authorize(request, f"os_compute_api:os-server-groups:{rule}",
              {"project_id": group.project_id, "user_id": group.user_id})
    return group


async def show_group(request: Request):
    """GET /os-server-groups/{id} -> 200 {"server_group": {...}}; 404."""
    async with _db(request).session() as s:
        group = await _visible(request, s, "show")
        found = await groups.members(s, [group.id])
    return ok({"server_group": _view(request, group, found[group.id])})


async def delete_group(request: Request):
    """DELETE /os-server-groups/{id} -> 204 (its servers stay, out of the group); 404."""
    async with _db(request).session() as s:
        group = await _visible(request, s, "delete")
        await s.delete(group)
    return ok(status=204)


def _int_param(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key)
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest(f"Invalid input for query parameters {key}. Value: {raw}. "
                         f"'{raw}' does not match '^[0-9]*$'")
    return int(raw)


async def list_groups(request: Request):
    """GET /os-server-groups[?all_projects=&limit=&offset=] -> 200 {"server_groups": [...]}; the
    caller's project's groups (every project's with all_projects, admin)."""
    ctx = authorize(request, "os_compute_api:os-server-groups:index")
    stmt = select(ServerGroup).order_by(ServerGroup.id)
    if query_bool(request, "all_projects", False):
        authorize(request, "os_compute_api:os-server-groups:index:all_projects")
    else:
        stmt = stmt.where(ServerGroup.project_id == ctx.project_id)
    offset, limit = _int_param(request, "offset") or 0, _int_param(request, "limit")
    async with _db(request).session() as s:
        rows = list((await s.execute(stmt)).scalars().all())
        rows = rows[offset:] if limit is None else rows[offset:offset + limit]
        found = await groups.members(s, [g.id for g in rows])
    return ok({"server_groups": [_view(request, g, found[g.id]) for g in rows]})


def routes() -> list[Route]:
    """The os-server-groups routes."""
    p = "/v2.1/os-server-groups"
    return [
        Route(p, list_groups, methods=["GET"]),
        Route(p, create_group, methods=["POST"]),
        Route(p + "/{group_id}", show_group, methods=["GET"]),
        Route(p + "/{group_id}", delete_group, methods=["DELETE"]),
    ]
