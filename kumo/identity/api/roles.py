"""Roles, grants and role assignments (Identity API v3: "Roles").

- ``GET/POST /v3/roles`` (filters ``name``, ``domain_id``),
  ``GET/PATCH/DELETE /v3/roles/{role_id}``.
- ``PUT/HEAD/DELETE /v3/projects/{project_id}/users/{user_id}/roles/{role_id}``
  and the same under ``/v3/domains/{domain_id}``: 204, or 404 when the
  project/domain, user, role (or, for HEAD/DELETE, the assignment) is unknown;
  ``GET .../users/{user_id}/roles`` lists the user's direct roles there.
- ``GET /v3/role_assignments`` (filters ``user.id``, ``role.id``,
  ``scope.project.id``, ``scope.domain.id``; ``include_names``).

Everything here needs the admin role (keystone's defaults for a project
scope).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kumo.common.api.errors import BadRequest
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity import views
from kumo.identity.api.common import assignments, base, body, enforce, flag, json, no_content
from kumo.identity.assignment import Grant
from kumo.identity.service import not_found


async def list_roles(request: Request):
    enforce(request, "list_roles")
    q = request.query_params
    found = await assignments(request).list_roles(name=q.get("name"), domain_id=q.get("domain_id"))
    root = base(request)
    return json({"roles": [views.role(r, root) for r in found], "links": views.collection_links(root, "roles")})


async def create_role(request: Request):
    enforce(request, "create_role")
    data = await body(request, "role", s.RoleCreate)
    r = await assignments(request).create_role(data)
    return json({"role": views.role(r, base(request))}, status=201)


async def show_role(request: Request):
    enforce(request, "get_role")
    r = await assignments(request).get_role(request.path_params["role_id"])
    return json({"role": views.role(r, base(request))})


async def update_role(request: Request):
    enforce(request, "update_role")
    data = await body(request, "role", s.RoleUpdate)
    r = await assignments(request).update_role(request.path_params["role_id"], data)
    return json({"role": views.role(r, base(request))})


async def delete_role(request: Request):
    enforce(request, "delete_role")
    await assignments(request).delete_role(request.path_params["role_id"])
    return no_content()


def _grant(request: Request, target_type: str) -> Grant:
    p = request.path_params
    return Grant(role_id=p["role_id"], user_id=p["user_id"], target_type=target_type,
                 target_id=p[f"{target_type}_id"])


async def _grant_route(request: Request, target_type: str):
    svc = assignments(request)
    g = _grant(request, target_type)
    if request.method == "PUT":
        enforce(request, "create_grant")
        await svc.grant(g)
    elif request.method == "DELETE":
        enforce(request, "revoke_grant")
        await svc.revoke(g)
    else:
        enforce(request, "check_grant")
        await svc.check_grant(g)
    return Response(status_code=204)


async def project_grant(request: Request):
    return await _grant_route(request, "project")


async def domain_grant(request: Request):
    return await _grant_route(request, "domain")


async def _list_grants(request: Request, target_type: str):
    enforce(request, "list_grants")
    p = request.path_params
    svc = assignments(request)
    target = p[f"{target_type}_id"]
    rows = await svc.names({"user": {p["user_id"]}, target_type: {target}})
    if target not in rows[target_type]:
        raise not_found(target_type, target)
    if p["user_id"] not in rows["user"]:
        raise not_found("user", p["user_id"])
    grants = await svc.list_grants(user_id=p["user_id"], **{f"{target_type}_id": target})
    roles = (await svc.names({"role": {g.role_id for g in grants}}))["role"]
    root = base(request)
    found = sorted(roles.values(), key=lambda r: r.name)
    return json({"roles": [views.role(r, root) for r in found],
                 "links": views.collection_links(root, f"{target_type}s/{target}/users/{p['user_id']}/roles")})


async def project_user_roles(request: Request):
    return await _list_grants(request, "project")


async def domain_user_roles(request: Request):
    return await _list_grants(request, "domain")


def _named(row, with_domain: dict | None = None) -> dict:
    out = {"id": row.id, "name": row.name}
    if with_domain is not None:
        out["domain"] = with_domain
    return out


async def role_assignments(request: Request):
    """``{"role_assignments": [{role, user, scope, links: {assignment}}], "links": {...}}``."""
    enforce(request, "list_role_assignments")
    q = request.query_params
    project_id, domain_id = q.get("scope.project.id"), q.get("scope.domain.id")
    if project_id and domain_id:
        raise BadRequest("Specify a domain or project, not both.")
    root = base(request)
    links = {"self": str(request.url).replace(f"{request.url.scheme}://{request.url.netloc}", root),
             "previous": None, "next": None}
    unsupported = ("group.id", "scope.system", "scope.OS-INHERIT:inherited_to")
    if any(q.get(k) for k in unsupported):
        return json({"role_assignments": [], "links": links})
    svc = assignments(request)
    grants = await svc.list_grants(user_id=q.get("user.id"), project_id=project_id, domain_id=domain_id,
                                   role_id=q.get("role.id"))
    names = None
    if flag(request, "include_names"):
        wanted = {"role": {g.role_id for g in grants}, "user": {g.user_id for g in grants},
                  "project": {g.target_id for g in grants if g.target_type == "project"},
                  "domain": {g.target_id for g in grants if g.target_type == "domain"}}
        names = await svc.names(wanted)
        more = {r.domain_id for r in names["role"].values() if r.domain_id != m.NULL_DOMAIN_ID}
        more |= {u.domain_id for u in names["user"].values()}
        more |= {p.domain_id for p in names["project"].values()}
        names["domain"].update((await svc.names({"domain": more - set(names["domain"])}))["domain"])
    out = []
    for g in grants:
        entry = {"role": {"id": g.role_id}, "user": {"id": g.user_id},
                 "scope": {g.target_type: {"id": g.target_id}},
                 "links": {"assignment": f"{root}/v3/{g.target_type}s/{g.target_id}/users/{g.user_id}"
                                         f"/roles/{g.role_id}"}}
        if names is not None:
            _add_names(entry, g, names)
        out.append(entry)
    return json({"role_assignments": out, "links": links})


def _add_names(entry: dict, g: Grant, names: dict) -> None:
    domains = names["domain"]

    def dom(domain_id: str) -> dict:
        d = domains.get(domain_id)
        return {"id": domain_id, "name": d.name if d else None}

    role = names["role"].get(g.role_id)
    if role is not None:
        entry["role"] = _named(role, dom(role.domain_id) if role.domain_id != m.NULL_DOMAIN_ID else None)
    user = names["user"].get(g.user_id)
    if user is not None:
        entry["user"] = _named(user, dom(user.domain_id))
    target = names[g.target_type].get(g.target_id)
    if target is not None:
        scoped = _named(target, dom(target.domain_id)) if g.target_type == "project" else _named(target)
        entry["scope"] = {g.target_type: scoped}


routes = [
    Route("/v3/roles", list_roles, methods=["GET"]),
    Route("/v3/roles", create_role, methods=["POST"]),
    Route("/v3/roles/{role_id}", show_role, methods=["GET"]),
    Route("/v3/roles/{role_id}", update_role, methods=["PATCH"]),
    Route("/v3/roles/{role_id}", delete_role, methods=["DELETE"]),
    Route("/v3/projects/{project_id}/users/{user_id}/roles", project_user_roles, methods=["GET"]),
    Route("/v3/domains/{domain_id}/users/{user_id}/roles", domain_user_roles, methods=["GET"]),
    Route("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", project_grant,
          methods=["PUT", "HEAD", "DELETE"]),
    Route("/v3/domains/{domain_id}/users/{user_id}/roles/{role_id}", domain_grant,
          methods=["PUT", "HEAD", "DELETE"]),
    Route("/v3/role_assignments", role_assignments, methods=["GET"]),
]
