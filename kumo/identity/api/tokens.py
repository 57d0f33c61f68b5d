"""``/v3/auth/*`` routes (Identity API v3: "Authentication and token management").

- ``POST /v3/auth/tokens`` -> 201, ``X-Subject-Token`` header, ``{"token": {...}}``
  (``?nocatalog`` drops the catalog); 400 malformed body, 401 refused.
- ``GET``/``HEAD /v3/auth/tokens`` (``X-Subject-Token``) -> 200; 404 for an
  invalid, expired or revoked subject; 403 unless the caller is the token's
  user or has the admin or service role.
- ``DELETE /v3/auth/tokens`` -> 204 (revokes the subject token).
- ``GET /v3/auth/catalog`` -> ``{"catalog": [...]}`` (403 for an unscoped token),
  ``GET /v3/auth/projects``, ``/v3/auth/domains`` and ``/v3/auth/system``
  (``{"system": [{"all": true}]}`` or ``[]``): what the caller may scope to.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.errors import BadRequest, Forbidden
from kumo.identity import schemas as s
from kumo.identity import views
from kumo.identity.api.common import (assignments, base, body, catalog, enforce, flag, identity, json,
                                      no_content, tokens)


async def issue(request: Request):
    req = await body(request, "auth", s.Auth)
    token, data = await tokens(request).issue(s.AuthRequest(auth=req), nocatalog=flag(request, "nocatalog"))
    return json(data, status=201, headers={"X-Subject-Token": token, "Vary": "X-Auth-Token"})


async def _subject(request: Request) -> str:
    subject = request.headers.get("x-subject-token", "")
    if not subject:
        raise BadRequest("Expecting to find X-Subject-Token in the request headers.")
    return subject


def _may_see(request: Request, subject_user_id: str, action: str) -> None:
    """keystone's token rule: a service or admin caller, or the subject token's own user (403)."""
    enforce(request, f"identity:{action}", lambda ctx: bool(ctx.user_id) and ctx.user_id == subject_user_id,
            target={"token_user_id": subject_user_id})


async def check(request: Request):
    subject = await _subject(request)
    svc = tokens(request)
    payload = await svc.payload(subject)
    _may_see(request, payload.user_id, "validate_token" if request.method == "GET" else "check_token")
    if request.method == "HEAD":
        return Response(status_code=200, headers={"X-Subject-Token": subject})
    data = await svc.validate(subject, nocatalog=flag(request, "nocatalog"))
    return json(data, headers={"X-Subject-Token": subject})


async def revoke(request: Request):
    subject = await _subject(request)
    svc = tokens(request)
    payload = await svc.payload(subject)
    _may_see(request, payload.user_id, "revoke_token")
    await svc.revoke(subject)
    return no_content()


async def auth_catalog(request: Request):
    ctx = context(request)
    if not ctx.project_id and not ctx.domain_id and not ctx.system:
        raise Forbidden("A scoped token is required to get the service catalog.")
    entries = await catalog(request).catalog(ctx.project_id)
    return json({"catalog": entries, "links": {"self": f"{base(request)}/v3/auth/catalog",
                                               "previous": None, "next": None}})


async def auth_projects(request: Request):
    ctx = context(request)
    ids = await assignments(request).project_ids_for_user(ctx.user_id)
    found = await identity(request).list_projects(ids=ids, enabled=True)
    root = base(request)
    return json({"projects": [views.project(p, root) for p in found],
                 "links": views.collection_links(root, "auth/projects")})


async def auth_domains(request: Request):
    ctx = context(request)
    ids = set(await assignments(request).domain_ids_for_user(ctx.user_id))
    found = [d for d in await identity(request).list_domains(enabled=True) if d.id in ids]
    root = base(request)
    return json({"domains": [views.domain(d, root) for d in found],
                 "links": views.collection_links(root, "auth/domains")})


async def auth_system(request: Request):
    ctx = context(request)
    has = bool(ctx.user_id) and bool(await assignments(request).roles_on(ctx.user_id, system=True))
    root = base(request)
    return json({"system": [{"all": True}] if has else [],
                 "links": {"self": f"{root}/v3/auth/system", "previous": None, "next": None}})


routes = [
    Route("/v3/auth/tokens", issue, methods=["POST"]),
    Route("/v3/auth/tokens", check, methods=["GET"]),
    Route("/v3/auth/tokens", revoke, methods=["DELETE"]),
    Route("/v3/auth/catalog", auth_catalog, methods=["GET"]),
    Route("/v3/auth/projects", auth_projects, methods=["GET"]),
    Route("/v3/auth/domains", auth_domains, methods=["GET"]),
    Route("/v3/auth/system", auth_system, methods=["GET"]),
]
