"""Users (Identity API v3: "Users").

- ``GET/POST /v3/users`` (list filters ``name``, ``domain_id``, ``enabled``),
  ``GET/PATCH/DELETE /v3/users/{user_id}``: admin, except that a user may
  read itself.
- ``POST /v3/users/{user_id}/password`` ``{"user": {"password",
  "original_password"}}`` -> 204: needs no token (the original password is the
  proof, so a user with an expired password can change it), but a token, if
  sent, must be the user's own or an admin's (403); 401 if the
  original password is wrong, 400 if the security compliance rules refuse the
  new password (history, minimum age, regex, ``lock_password``). The user's
  tokens are revoked.
- Users show ``options`` (kumo.identity.security.OPTIONS) and
  ``password_expires_at`` (``[identity] password_expires_days``).
- ``GET /v3/users/{user_id}/projects``: projects the user has a role on
  (the user itself or an admin).

Creates answer 201, updates 200, deletes 204; 404 for unknown ids, 409 for
a duplicate name in the domain, 400 for invalid bodies.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import query_bool
from kumo.identity import schemas as s
from kumo.identity import views
from kumo.identity.api.common import (assignments, base, body, default_domain, enforce, identity, json,
                                      no_content)


def _self(request: Request):
    user_id = request.path_params["user_id"]
    return lambda ctx: ctx.user_id == user_id


async def list_users(request: Request):
    enforce(request, "identity:list_users")
    q = request.query_params
    svc = identity(request)
    found = await svc.list_users(name=q.get("name"), domain_id=q.get("domain_id"),
                                 enabled=query_bool(request, "enabled"))
    details = await svc.user_details(found)
    root = base(request)
    return json({"users": [views.user(u, root, details[u.id]) for u in found],
                 "links": views.collection_links(root, "users")})


async def _render(request: Request, u, status: int = 200):
    details = await identity(request).user_details([u])
    return json({"user": views.user(u, base(request), details[u.id])}, status=status)


async def create_user(request: Request):
    ctx = enforce(request, "identity:create_user")
    data = await body(request, "user", s.UserCreate)
    u = await identity(request).create_user(data, default_domain(ctx))
    return await _render(request, u, 201)


async def show_user(request: Request):
    enforce(request, "identity:get_user", _self(request))
    u = await identity(request).get_user(request.path_params["user_id"])
    return await _render(request, u)


async def update_user(request: Request):
    enforce(request, "identity:update_user")
    data = await body(request, "user", s.UserUpdate)
    u = await identity(request).update_user(request.path_params["user_id"], data)
    return await _render(request, u)


async def delete_user(request: Request):
    enforce(request, "identity:delete_user")
    await identity(request).delete_user(request.path_params["user_id"])
    return no_content()


async def change_password(request: Request):
    if getattr(request.state, "context", None) is not None:  # a token came: it must be the user's (or an admin's)
        enforce(request, "identity:change_password", _self(request))
    data = await body(request, "user", s.PasswordChange)
    await identity(request).change_password(request.path_params["user_id"], data)
    return no_content()


async def user_projects(request: Request):
    enforce(request, "identity:list_user_projects", _self(request))
    user_id = request.path_params["user_id"]
    svc = identity(request)
    await svc.get_user(user_id)
    ids = await assignments(request).project_ids_for_user(user_id)
    q = request.query_params
    found = await svc.list_projects(ids=ids, name=q.get("name"), domain_id=q.get("domain_id"),
                                    enabled=query_bool(request, "enabled"))
    root = base(request)
    return json({"projects": [views.project(p, root) for p in found],
                 "links": views.collection_links(root, f"users/{user_id}/projects")})


routes = [
    Route("/v3/users", list_users, methods=["GET"]),
    Route("/v3/users", create_user, methods=["POST"]),
    Route("/v3/users/{user_id}", show_user, methods=["GET"]),
    Route("/v3/users/{user_id}", update_user, methods=["PATCH"]),
    Route("/v3/users/{user_id}", delete_user, methods=["DELETE"]),
    Route("/v3/users/{user_id}/password", change_password, methods=["POST"]),
    Route("/v3/users/{user_id}/projects", user_projects, methods=["GET"]),
]
