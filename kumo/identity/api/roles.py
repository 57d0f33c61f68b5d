"""Roles and grants (Identity API v3: "Roles", "System Role Assignments", "OS-INHERIT").

- ``GET/POST /v3/roles`` (filters ``name``, ``domain_id``),
  ``GET/PATCH/DELETE /v3/roles/{role_id}``; a role with a ``domain_id`` is
  domain-specific (policies ``identity:*_domain_role``).
- Grants, ``PUT`` (give), ``HEAD`` (check) and ``DELETE`` (revoke), each 204,
  and ``GET`` of the list (``{"roles": [...], "links": {...}}``) without the
  trailing role id:

  - ``/v3/projects/{project_id}/users|groups/{id}/roles/{role_id}``
  - ``/v3/domains/{domain_id}/users|groups/{id}/roles/{role_id}``
  - ``/v3/system/users|groups/{id}/roles/{role_id}``
  - ``/v3/OS-INHERIT/domains/{domain_id}/users|groups/{id}/roles/{role_id}/inherited_to_projects``
    (and its list form ``.../roles/inherited_to_projects``)
  - ``/v3/OS-INHERIT/projects/{project_id}/users|groups/{id}/roles/{role_id}/inherited_to_projects``

  404 when the target, actor, role or (HEAD/DELETE) the assignment is
  unknown; 403 for a domain-specific role outside its domain; 400 for a
  domain-specific role on the system.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity import views
from kumo.identity.api.common import assignments, base, body, enforce, json, no_content
from kumo.identity.assignment import Grant


def _role_action(verb: str, domain_specific: bool) -> str:
    return f"{verb}_domain_role" if domain_specific else f"{verb}_role"


async def list_roles(request: Request):
    domain_id = request.query_params.get("domain_id")
    enforce(request, "list_domain_roles" if domain_id else "list_roles")
    found = await assignments(request).list_roles(name=request.query_params.get("name"), domain_id=domain_id)
    root = base(request)
    return json({"roles": [views.role(r, root) for r in found], "links": views.collection_links(root, "roles")})


async def create_role(request: Request):
    data = await body(request, "role", s.RoleCreate)
    enforce(request, _role_action("create", bool(data.domain_id)))
    r = await assignments(request).create_role(data)
    return json({"role": views.role(r, base(request))}, status=201)


async def _existing(request: Request, verb: str) -> m.Role:
    r = await assignments(request).get_role(request.path_params["role_id"])
    enforce(request, _role_action(verb, r.domain_id != m.NULL_DOMAIN_ID))
    return r


async def show_role(request: Request):
    r = await _existing(request, "get")
    return json({"role": views.role(r, base(request))})


async def update_role(request: Request):
    await _existing(request, "update")
    data = await body(request, "role", s.RoleUpdate)
    r = await assignments(request).update_role(request.path_params["role_id"], data)
    return json({"role": views.role(r, base(request))})


async def delete_role(request: Request):
    await _existing(request, "delete")
    await assignments(request).delete_role(request.path_params["role_id"])
    return no_content()


# --- grants ----------------------------------------------------------------------------------

def _policy(target: str, actor: str, verb: str) -> str:
    """keystone's policy name: ``create_grant`` ..., ``create_system_grant_for_user`` ... on the system."""
    if target == "system":
        return {"list": "list_system_grants", "create": "create_system_grant", "check": "check_system_grant",
                "revoke": "revoke_system_grant"}[verb] + f"_for_{actor}"
    return "list_grants" if verb == "list" else f"{verb}_grant"


def _grant_routes(target: str, actor: str, inherited: bool = False) -> list[Route]:
    """The PUT/HEAD/DELETE route of one grant and (where keystone has it) the GET of the list."""
    if target == "system":
        prefix = f"/v3/system/{actor}s/{{{actor}_id}}/roles"
    else:
        head = "/v3/OS-INHERIT" if inherited else "/v3"
        prefix = f"{head}/{target}s/{{{target}_id}}/{actor}s/{{{actor}_id}}/roles"
    suffix = "/inherited_to_projects" if inherited else ""

    def grant(request: Request, role_id: str | None) -> Grant:
        p = request.path_params
        target_id = m.SYSTEM_TARGET if target == "system" else p[f"{target}_id"]
        return Grant(role_id or "", actor, p[f"{actor}_id"], target, target_id, inherited)

    async def one(request: Request):
        g = grant(request, request.path_params["role_id"])
        svc = assignments(request)
        if request.method == "PUT":
            enforce(request, _policy(target, actor, "create"))
            await svc.grant(g)
        elif request.method == "DELETE":
            enforce(request, _policy(target, actor, "revoke"))
            await svc.revoke(g)
        else:
            enforce(request, _policy(target, actor, "check"))
            await svc.check_grant(g)
        return no_content()

    async def many(request: Request):
        enforce(request, _policy(target, actor, "list"))
        roles = await assignments(request).granted_roles(grant(request, None))
        root = base(request)
        path = request.url.path.removeprefix("/v3/")
        return json({"roles": [views.role(r, root) for r in roles], "links": views.collection_links(root, path)})

    routes = [Route(f"{prefix}/{{role_id}}{suffix}", one, methods=["PUT", "HEAD", "DELETE"])]
    if not (inherited and target == "project"):
        routes.insert(0, Route(f"{prefix}{suffix}", many, methods=["GET"]))
    return routes


routes = [
    Route("/v3/roles", list_roles, methods=["GET"]),
    Route("/v3/roles", create_role, methods=["POST"]),
    Route("/v3/roles/{role_id}", show_role, methods=["GET"]),
    Route("/v3/roles/{role_id}", update_role, methods=["PATCH"]),
    Route("/v3/roles/{role_id}", delete_role, methods=["DELETE"]),
    *[r for target in ("project", "domain", "system") for actor in ("user", "group")
      for r in _grant_routes(target, actor)],
    *[r for target in ("project", "domain") for actor in ("user", "group")
      for r in _grant_routes(target, actor, inherited=True)],
]
