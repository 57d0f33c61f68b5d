"""Groups and membership (Identity API v3: "Groups", "List groups to which a user belongs").

- ``GET/POST /v3/groups`` (filters ``name``, ``domain_id``),
  ``GET/PATCH/DELETE /v3/groups/{group_id}``: a group is ``{"id", "name",
  "domain_id", "description", "links"}`` plus the extra attributes given.
- ``GET /v3/groups/{group_id}/users`` (filters ``name``, ``domain_id``,
  ``enabled``); ``PUT/HEAD/DELETE /v3/groups/{group_id}/users/{user_id}``
  (204; 404 for an unknown group or user, or for HEAD/DELETE a user that is
  not a member).
- ``GET /v3/users/{user_id}/groups`` (filter ``name``): the user itself or an admin.

Creates answer 201, updates 200, deletes 204; 409 for a duplicate name in
the domain, 400 for an invalid body or a domain change.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import query_bool
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity import views
from kumo.common.api import context
from kumo.identity.api import crud
from kumo.identity.api.common import assignments, body, default_domain, enforce, no_content
from kumo.identity.groups import GroupService


def group_view(g: m.Group, root: str) -> dict:
    """A group as keystone shows it (extra attributes at the top level)."""
    out = dict(g.extra or {})
    out.update({"id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description or "",
                "links": {"self": f"{root}/v3/groups/{g.id}"}})
    return out


def _groups(request: Request) -> GroupService:
    return assignments(request).groups


async def list_groups(request: Request):
    q = request.query_params
    enforce(request, "list_groups", target={"domain_id": q["domain_id"]} if q.get("domain_id") else None)
    found = await _groups(request).list_groups(name=q.get("name"), domain_id=q.get("domain_id"))
    return crud.listed(request, "groups", found, group_view, "groups")


async def create_group(request: Request):
    data = await body(request, "group", s.GroupCreate)
    domain_id = data.domain_id or default_domain(context(request))
    enforce(request, "create_group", target={"domain_id": domain_id})
    g = await _groups(request).create_group(data, domain_id)
    return crud.shown(request, "group", g, group_view, 201)


async def _group(request: Request, action: str) -> m.Group:
    """The URL's group (404 if unknown) once the policy allows ``action`` on its domain."""
    g = await _groups(request).get_group(request.path_params["group_id"])
    enforce(request, action, target={"domain_id": g.domain_id})
    return g


async def show_group(request: Request):
    g = await _group(request, "get_group")
    return crud.shown(request, "group", g, group_view)


async def update_group(request: Request):
    await _group(request, "update_group")
    data = await body(request, "group", s.GroupUpdate)
    g = await _groups(request).update_group(request.path_params["group_id"], data)
    return crud.shown(request, "group", g, group_view)


async def delete_group(request: Request):
    await _group(request, "delete_group")
    await _groups(request).delete_group(request.path_params["group_id"])
    return no_content()


async def group_users(request: Request):
    await _group(request, "list_users_in_group")
    group_id = request.path_params["group_id"]
    q = request.query_params
    found = await _groups(request).users_in_group(group_id, name=q.get("name"), domain_id=q.get("domain_id"),
                                                  enabled=query_bool(request, "enabled"))
    return crud.listed(request, "users", found, views.user, f"groups/{group_id}/users")


async def membership(request: Request):
    svc = _groups(request)
    group_id, user_id = request.path_params["group_id"], request.path_params["user_id"]
    action = {"PUT": "add_user_to_group", "DELETE": "remove_user_from_group"}.get(request.method,
                                                                                  "check_user_in_group")
    await _group(request, action)
    if request.method == "PUT":
        await svc.add_user(group_id, user_id)
    elif request.method == "DELETE":
        await svc.remove_user(group_id, user_id)
    else:
        await svc.check_user(group_id, user_id)
    return no_content()


async def user_groups(request: Request):
    user_id = request.path_params["user_id"]
    enforce(request, "list_groups_for_user", lambda ctx: ctx.user_id == user_id)
    found = await _groups(request).groups_for_user(user_id, name=request.query_params.get("name"))
    return crud.listed(request, "groups", found, group_view, f"users/{user_id}/groups")


routes = [
    *crud.routes("/v3/groups", "group_id", list=list_groups, create=create_group, show=show_group,
                 update=update_group, delete=delete_group),
    Route("/v3/groups/{group_id}/users", group_users, methods=["GET"]),
    Route("/v3/groups/{group_id}/users/{user_id}", membership, methods=["PUT", "HEAD", "DELETE"]),
    Route("/v3/users/{user_id}/groups", user_groups, methods=["GET"]),
]
