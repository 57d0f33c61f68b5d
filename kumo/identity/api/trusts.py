"""Trusts (Identity API v3 OS-TRUST extension: "Trusts").

- ``POST /v3/OS-TRUST/trusts`` ``{"trust": {trustor_user_id, trustee_user_id,
  impersonation, project_id, roles: [{id|name}], expires_at, remaining_uses,
  allow_redelegation, redelegation_count}}`` -> 201: only the trustor itself
  (403 otherwise, or from a restricted application credential token, or
  redelegating a trust that does not allow it); 400 invalid values (a bad
  ``expires_at``), 404 unknown user, project or role.
- ``GET /v3/OS-TRUST/trusts`` (filters ``trustor_user_id``,
  ``trustee_user_id``): an admin sees all; others must filter on themselves.
- ``GET``/``DELETE /v3/OS-TRUST/trusts/{trust_id}`` (200/204): the trustor or
  trustee (delete: the trustor) or an admin; 404 unknown, deleted or expired.
- ``GET /v3/OS-TRUST/trusts/{trust_id}/roles``, ``GET``/``HEAD
  .../roles/{role_id}`` (404 for a role the trust does not delegate).

A trust body: ``{id, trustor_user_id, trustee_user_id, project_id,
impersonation, expires_at ("...T10:00:00.000000Z" or null), remaining_uses,
allow_redelegation, redelegation_count, roles: [role], roles_links, links}``.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kumo.identity import schemas as s
from kumo.identity import views
from kumo.identity.api.appcreds import creator
from kumo.identity.api.common import base, body, enforce, json, no_content, tokens
from kumo.identity.trusts import TrustService, TrustView, trust_not_found


def _svc(request: Request) -> TrustService:
    return tokens(request).trusts


def _view(t: TrustView, root: str, *, summary: bool = False) -> dict:
    row = t.row
    out = {"id": row.id, "trustor_user_id": row.trustor_user_id, "trustee_user_id": row.trustee_user_id,
           "project_id": row.project_id, "impersonation": row.impersonation,
           "expires_at": row.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if row.expires_at else None,
           "remaining_uses": row.remaining_uses, "allow_redelegation": row.allow_redelegation,
           "links": {"self": f"{root}/v3/OS-TRUST/trusts/{row.id}"}}
    if row.allow_redelegation:
        out["redelegation_count"] = row.redelegation_count
    if row.redelegated_trust_id:
        out["redelegated_trust_id"] = row.redelegated_trust_id
    if not summary:
        out["roles"] = [views.role(r, root) for r in t.roles]
        out["roles_links"] = {"self": f"{root}/v3/OS-TRUST/trusts/{row.id}/roles", "previous": None, "next": None}
    return out


async def create(request: Request):
    data = await body(request, "trust", s.TrustCreate)
    enforce(request, "identity:create_trust", target={"trustor_user_id": data.trustor_user_id})
    made = await _svc(request).create(data, await creator(request))
    return json({"trust": _view(made, base(request))}, status=201)


async def list_trusts(request: Request):
    q = request.query_params
    trustor, trustee = q.get("trustor_user_id"), q.get("trustee_user_id")
    action = "identity:list_trusts_for_trustor" if trustor else \
        "identity:list_trusts_for_trustee" if trustee else "identity:list_trusts"
    enforce(request, action, lambda ctx: bool(ctx.user_id) and ctx.user_id in (trustor, trustee),
            target={"trustor_user_id": trustor, "trustee_user_id": trustee})
    found = await _svc(request).list(trustor_user_id=trustor, trustee_user_id=trustee)
    root = base(request)
    return json({"trusts": [_view(t, root, summary=True) for t in found],
                 "links": {"self": f"{root}/v3/OS-TRUST/trusts", "previous": None, "next": None}})


async def _visible(request: Request, action: str, *, trustor_only: bool = False) -> TrustView:
    """The trust of the path if the caller is a party to it (or an admin); 404 unknown, 403 otherwise."""
    trust = await _svc(request).get(request.path_params["trust_id"])
    parties = {trust.row.trustor_user_id} if trustor_only else {trust.row.trustor_user_id,
                                                                 trust.row.trustee_user_id}
    enforce(request, action, lambda ctx: bool(ctx.user_id) and ctx.user_id in parties,
            target={"trustor_user_id": trust.row.trustor_user_id, "trustee_user_id": trust.row.trustee_user_id})
    return trust


async def show(request: Request):
    trust = await _visible(request, "identity:get_trust")
    return json({"trust": _view(trust, base(request))})


async def delete(request: Request):
    trust = await _visible(request, "identity:delete_trust", trustor_only=True)
    await _svc(request).delete(trust.row.id)
    return no_content()


async def list_roles(request: Request):
    trust = await _visible(request, "identity:list_roles_for_trust")
    root = base(request)
    return json({"roles": [views.role(r, root) for r in trust.roles],
                 "links": {"self": f"{root}/v3/OS-TRUST/trusts/{trust.row.id}/roles",
                           "previous": None, "next": None}})


async def show_role(request: Request):
    trust = await _visible(request, "identity:get_role_for_trust")
    role_id = request.path_params["role_id"]
    role = next((r for r in trust.roles if r.id == role_id), None)
    if role is None:
        raise trust_not_found(f"{trust.row.id} role {role_id}")
    if request.method == "HEAD":
        return Response(status_code=200)
    return json({"role": views.role(role, base(request))})


routes = [
    Route("/v3/OS-TRUST/trusts", create, methods=["POST"]),
    Route("/v3/OS-TRUST/trusts", list_trusts, methods=["GET"]),
    Route("/v3/OS-TRUST/trusts/{trust_id}", show, methods=["GET"]),
    Route("/v3/OS-TRUST/trusts/{trust_id}", delete, methods=["DELETE"]),
    Route("/v3/OS-TRUST/trusts/{trust_id}/roles", list_roles, methods=["GET"]),
    Route("/v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}", show_role, methods=["GET", "HEAD"]),
]
