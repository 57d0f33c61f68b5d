"""Application credentials and access rules (Identity API v3: "Application credentials").

- ``POST /v3/users/{user_id}/application_credentials`` ``{"application_credential":
  {name, description, secret, expires_at, roles: [{id|name}], unrestricted,
  access_rules: [{service, method, path} | {id}]}}`` -> 201 with ``secret``
  (shown only here). Only the user itself, with a project-scoped token; the
  credential gets the token's project and (by default) all its roles. 400
  without a project scope or for invalid values, 403 for another user or a
  restricted application credential token, 404 for a role the user does not
  hold there, 409 for a duplicate name.
- ``GET .../application_credentials`` (filter ``name``),
  ``GET``/``DELETE .../application_credentials/{id}`` (200/204; 404 unknown):
  the user itself or an admin.
- ``GET /v3/users/{user_id}/access_rules``, ``GET``/``DELETE
  .../access_rules/{id}``: the user itself or an admin; deleting a rule an
  application credential uses is 403.

A credential body: ``{id, name, description, user_id, project_id, roles:
[{id, name, domain_id}], expires_at ("2026-01-01T10:00:00.000000" or null),
unrestricted, system, access_rules: [{id, service, method, path}], links}``.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.errors import Forbidden
from kumo.identity import schemas as s
from kumo.identity.api.common import base, body, enforce, json, no_content, tokens
from kumo.identity.appcreds import AppCred, AppCredService, Creator
from kumo.identity.models import NULL_DOMAIN_ID


def _svc(request: Request) -> AppCredService:
    return tokens(request).appcreds


def _owner(request: Request):
    user_id = request.path_params["user_id"]
    return lambda ctx: bool(ctx.user_id) and ctx.user_id == user_id


def rule_view(rule) -> dict:
    return {"id": rule.id, "service": rule.service, "method": rule.method, "path": rule.path}


def _view(c: AppCred, root: str) -> dict:
    row = c.row
    out = {"id": row.id, "name": row.name, "description": row.description, "user_id": row.user_id,
           "project_id": row.project_id, "system": None, "unrestricted": row.unrestricted,
           "expires_at": row.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%f") if row.expires_at else None,
           "roles": [{"id": r.id, "name": r.name,
                      "domain_id": None if r.domain_id == NULL_DOMAIN_ID else r.domain_id} for r in c.roles],
           "access_rules": [rule_view(a) for a in c.rules],
           "links": {"self": f"{root}/v3/users/{row.user_id}/application_credentials/{row.id}"}}
    if c.secret is not None:
        out["secret"] = c.secret
    return out


async def creator(request: Request) -> Creator:
    """The calling token's user, project, trust and application credential (for delegation rules)."""
    ctx = context(request)
    if not ctx.user_id:  # the bootstrap admin token: nobody to delegate from
        return Creator(user_id="", project_id=None, role_ids=[])
    payload = await tokens(request).payload(ctx.token)
    role_ids: list[str] = []
    if payload.app_cred_id:
        role_ids = list((await _svc(request).get(payload.user_id, payload.app_cred_id)).row.role_ids)
    return Creator(user_id=payload.user_id, project_id=payload.project_id, role_ids=role_ids,
                   app_cred_id=payload.app_cred_id, trust_id=payload.trust_id)


async def create(request: Request):
    enforce(request, "identity:create_application_credential", _owner(request))
    who = await creator(request)
    if who.user_id != request.path_params["user_id"]:
        raise Forbidden("Application credentials can only be created by their own user.")
    data = await body(request, "application_credential", s.AppCredCreate)
    made = await _svc(request).create(request.path_params["user_id"], data, who)
    return json({"application_credential": _view(made, base(request))}, status=201)


async def list_creds(request: Request):
    enforce(request, "identity:list_application_credentials", _owner(request))
    user_id = request.path_params["user_id"]
    found = await _svc(request).list(user_id, name=request.query_params.get("name"))
    root = base(request)
    return json({"application_credentials": [_view(c, root) for c in found],
                 "links": {"self": f"{root}/v3/users/{user_id}/application_credentials",
                           "previous": None, "next": None}})


async def show(request: Request):
    enforce(request, "identity:get_application_credential", _owner(request))
    p = request.path_params
    found = await _svc(request).get(p["user_id"], p["app_cred_id"])
    return json({"application_credential": _view(found, base(request))})


async def delete(request: Request):
    enforce(request, "identity:delete_application_credential", _owner(request))
    p = request.path_params
    await _svc(request).delete(p["user_id"], p["app_cred_id"])
    return no_content()


async def list_rules(request: Request):
    enforce(request, "identity:list_access_rules", _owner(request))
    user_id = request.path_params["user_id"]
    found = await _svc(request).list_rules(user_id)
    root = base(request)
    return json({"access_rules": [{**rule_view(r), "links": {
                    "self": f"{root}/v3/users/{user_id}/access_rules/{r.id}"}} for r in found],
                 "links": {"self": f"{root}/v3/users/{user_id}/access_rules", "previous": None, "next": None}})


async def show_rule(request: Request):
    enforce(request, "identity:get_access_rule", _owner(request))
    p = request.path_params
    rule = await _svc(request).get_rule(p["user_id"], p["rule_id"])
    root = base(request)
    return json({"access_rule": {**rule_view(rule), "links": {
        "self": f"{root}/v3/users/{p['user_id']}/access_rules/{rule.id}"}}})


async def delete_rule(request: Request):
    enforce(request, "identity:delete_access_rule", _owner(request))
    p = request.path_params
    await _svc(request).delete_rule(p["user_id"], p["rule_id"])
    return no_content()


_CREDS = "/v3/users/{user_id}/application_credentials"
_RULES = "/v3/users/{user_id}/access_rules"
routes = [
    Route(_CREDS, create, methods=["POST"]),
    Route(_CREDS, list_creds, methods=["GET"]),
    Route(_CREDS + "/{app_cred_id}", show, methods=["GET"]),
    Route(_CREDS + "/{app_cred_id}", delete, methods=["DELETE"]),
    Route(_RULES, list_rules, methods=["GET"]),
    Route(_RULES + "/{rule_id}", show_rule, methods=["GET"]),
    Route(_RULES + "/{rule_id}", delete_rule, methods=["DELETE"]),
]
