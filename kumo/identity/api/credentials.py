"""Credentials and EC2 credentials (Identity API v3: "Credentials"; extension OS-EC2).

- ``GET/POST /v3/credentials`` (filters ``user_id``, ``type``),
  ``GET/PATCH/DELETE /v3/credentials/{credential_id}``. A credential is
  ``{id, user_id, project_id, type, blob (a string), links}``.
- ``GET/POST /v3/users/{user_id}/credentials/OS-EC2`` (POST body
  ``{"tenant_id": project}``, not wrapped) and ``GET/DELETE
  /v3/users/{user_id}/credentials/OS-EC2/{access}``. An ec2 credential is
  ``{user_id, tenant_id, access, secret, trust_id, links}``.
- ``POST /v3/ec2tokens`` (``{"credentials": {access, signature, host, verb,
  path, params, headers, body_hash}}``, no token needed): a project-scoped
  token for an EC2-signed request (:mod:`kumo.identity.ec2tokens`), or 401.

Policy: keystone's rules with the credential's ``user_id`` as the target's
owner: an admin manages every credential, a system reader reads them, other
users manage only their own (a list shows only those). Creates answer 201, deletes 204; 404 for unknown ids,
400 for invalid bodies, 403 for someone else's credentials, 409 for a
duplicate ec2 access key.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.errors import NotFound, Unauthorized
from kumo.identity import models as m
from kumo.identity import resource_schemas as rs
from kumo.identity import views
from kumo.identity import tokens as clock
from kumo.identity.api.common import base, body, enforce, json, no_content, policy, tokens
from kumo.identity.credentials import CredentialService
from kumo.identity.tokens import TokenPayload


def _svc(request: Request) -> CredentialService:
    return request.app.state.credentials


def credential_view(svc: CredentialService, c: m.Credential, root: str) -> dict:
    return {"id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.type,
            "blob": svc.blob(c), "links": {"self": f"{root}/v3/credentials/{c.id}"}}


def ec2_view(c: m.Credential, blob: dict, root: str) -> dict:
    access = blob["access"]
    return {"user_id": c.user_id, "tenant_id": c.project_id, "access": access, "secret": blob.get("secret"),
            "trust_id": blob.get("trust_id"),
            "links": {"self": f"{root}/v3/users/{c.user_id}/credentials/OS-EC2/{access}"}}


async def list_credentials(request: Request):
    """Every credential for a reader; for others only those the policy lets them see (their own)."""
    ctx = context(request)
    q = request.query_params
    rules = policy(request)
    if not rules.check(ctx, "identity:list_credentials", {}):
        enforce(request, "identity:list_credentials", target={"user_id": ctx.user_id})
    svc = _svc(request)
    found = await svc.list_credentials(user_id=q.get("user_id"), type=q.get("type"))
    found = [c for c in found if rules.check(ctx, "identity:get_credential", {"user_id": c.user_id})]
    root = base(request)
    return json({"credentials": [credential_view(svc, c, root) for c in found],
                 "links": views.collection_links(root, "credentials")})


async def create_credential(request: Request):
    data = await body(request, "credential", rs.CredentialCreate)
    enforce(request, "identity:create_credential", target={"user_id": data.user_id})
    svc = _svc(request)
    c = await svc.create_credential(data)
    return json({"credential": credential_view(svc, c, base(request))}, status=201)


async def _owned(request: Request, action: str) -> m.Credential:
    c = await _svc(request).get_credential(request.path_params["credential_id"])
    enforce(request, action, target={"user_id": c.user_id})
    return c


async def show_credential(request: Request):
    c = await _owned(request, "identity:get_credential")
    return json({"credential": credential_view(_svc(request), c, base(request))})


async def update_credential(request: Request):
    c = await _owned(request, "identity:update_credential")
    data = await body(request, "credential", rs.CredentialUpdate)
    if data.user_id not in (None, c.user_id):
        enforce(request, "identity:update_credential", target={"user_id": data.user_id})
    svc = _svc(request)
    c = await svc.update_credential(c.id, data)
    return json({"credential": credential_view(svc, c, base(request))})


async def delete_credential(request: Request):
    c = await _owned(request, "identity:delete_credential")
    await _svc(request).delete_credential(c.id)
    return no_content()


# --- OS-EC2 --------------------------------------------------------------------------------

def _ec2_owner(request: Request, action: str) -> str:
    enforce(request, action)
    return request.path_params["user_id"]


async def list_ec2(request: Request):
    user_id = _ec2_owner(request, "identity:ec2_list_credentials")
    root = base(request)
    found = await _svc(request).list_ec2(user_id)
    return json({"credentials": [ec2_view(c, blob, root) for c, blob in found],
                 "links": views.collection_links(root, f"users/{user_id}/credentials/OS-EC2")})


async def create_ec2(request: Request):
    user_id = _ec2_owner(request, "identity:ec2_create_credential")
    data = await body(request, None, rs.Ec2Create)
    c, blob = await _svc(request).create_ec2(user_id, data.tenant_id)
    return json({"credential": ec2_view(c, blob, base(request))}, status=201)


async def show_ec2(request: Request):
    user_id = _ec2_owner(request, "identity:ec2_get_credential")
    c, blob = await _svc(request).get_ec2(user_id, request.path_params["access"])
    return json({"credential": ec2_view(c, blob, base(request))})


async def delete_ec2(request: Request):
    user_id = _ec2_owner(request, "identity:ec2_delete_credential")
    await _svc(request).delete_ec2(user_id, request.path_params["access"])
    return no_content()


async def ec2_token(request: Request):
    """``POST /v3/ec2tokens`` (no token needed): a token scoped to the signing credential's
    project (method ``ec2credential``), 200 with ``X-Subject-Token``; 401 if the signature, the
    credential, the user or its role on the project does not hold."""
    data = await body(request, None, rs.Ec2TokenRequest)
    cred = await _svc(request).authenticate_ec2(data.credentials or data.ec2Credentials)
    service = tokens(request)
    issued = clock.now_us()
    payload = TokenPayload(user_id=cred.user_id, methods=["ec2credential"], issued_at=issued,
                           expires_at=issued + service.expiration * 1_000_000, audit_ids=[clock.new_audit_id()],
                           project_id=cred.project_id)
    token = service.formatter.pack(payload)
    try:
        shown = await service.validate(token)
    except NotFound:
        raise Unauthorized("The request you have made requires authentication.") from None
    return json(shown, headers={"X-Subject-Token": token})


_EC2 = "/v3/users/{user_id}/credentials/OS-EC2"

routes = [
    Route("/v3/credentials", list_credentials, methods=["GET"]),
    Route("/v3/credentials", create_credential, methods=["POST"]),
    Route("/v3/credentials/{credential_id}", show_credential, methods=["GET"]),
    Route("/v3/credentials/{credential_id}", update_credential, methods=["PATCH"]),
    Route("/v3/credentials/{credential_id}", delete_credential, methods=["DELETE"]),
    Route("/v3/ec2tokens", ec2_token, methods=["POST"]),
    Route(_EC2, list_ec2, methods=["GET"]),
    Route(_EC2, create_ec2, methods=["POST"]),
    Route(_EC2 + "/{access}", show_ec2, methods=["GET"]),
    Route(_EC2 + "/{access}", delete_ec2, methods=["DELETE"]),
]
