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
from kumo.identity import tokens as clock
from kumo.identity.api import crud
from kumo.identity.api.common import body, enforce, json, no_content, policy, tokens
from kumo.identity.credentials import CredentialService
from kumo.identity.tokens import TokenPayload


def _svc(request: Request) -> CredentialService:
    return request.app.state.credentials


def credential_view(svc: CredentialService, c: m.Credential, root: str) -> dict:
    return {"id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.type,
            "blob": svc.blob(c), "links": {"self": f"{root}/v3/credentials/{c.id}"}}


def _view(request: Request) -> crud.View:
    """:func:`credential_view` with this request's service (it decrypts blobs)."""
    svc = _svc(request)
    return lambda c, root: credential_view(svc, c, root)


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
    found = await _svc(request).list_credentials(user_id=q.get("user_id"), type=q.get("type"))
    found = [c for c in found if rules.check(ctx, "identity:get_credential", {"user_id": c.user_id})]
    return crud.listed(request, "credentials", found, _view(request), "credentials")


async def create_credential(request: Request):
    data = await body(request, "credential", rs.CredentialCreate)
    enforce(request, "identity:create_credential", target={"user_id": data.user_id})
    c = await _svc(request).create_credential(data)
    return crud.shown(request, "credential", c, _view(request), 201)


async def _owned(request: Request, action: str) -> m.Credential:
    c = await _svc(request).get_credential(request.path_params["credential_id"])
    enforce(request, action, target={"user_id": c.user_id})
    return c


async def show_credential(request: Request):
    c = await _owned(request, "identity:get_credential")
    return crud.shown(request, "credential", c, _view(request))


async def update_credential(request: Request):
    c = await _owned(request, "identity:update_credential")
    data = await body(request, "credential", rs.CredentialUpdate)
    if data.user_id not in (None, c.user_id):
        enforce(request, "identity:update_credential", target={"user_id": data.user_id})
    c = await _svc(request).update_credential(c.id, data)
    return crud.shown(request, "credential", c, _view(request))


async def delete_credential(request: Request):
    c = await _owned(request, "identity:delete_credential")
    await _svc(request).delete_credential(c.id)
    return no_content()


# --- OS-EC2 --------------------------------------------------------------------------------

def _ec2_view(found: tuple[m.Credential, dict], root: str) -> dict:
    return ec2_view(*found, root)


def _ec2_owner(request: Request, action: str) -> str:
    enforce(request, action)
    return request.path_params["user_id"]


async def list_ec2(request: Request):
    user_id = _ec2_owner(request, "identity:ec2_list_credentials")
    found = await _svc(request).list_ec2(user_id)
    return crud.listed(request, "credentials", found, _ec2_view, f"users/{user_id}/credentials/OS-EC2")


async def create_ec2(request: Request):
    user_id = _ec2_owner(request, "identity:ec2_create_credential")
    data = await body(request, None, rs.Ec2Create)
    found = await _svc(request).create_ec2(user_id, data.tenant_id)
    return crud.shown(request, "credential", found, _ec2_view, 201)


async def show_ec2(request: Request):
    user_id = _ec2_owner(request, "identity:ec2_get_credential")
    found = await _svc(request).get_ec2(user_id, request.path_params["access"])
    return crud.shown(request, "credential", found, _ec2_view)


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
    *crud.routes("/v3/credentials", "credential_id", list=list_credentials, create=create_credential,
                 show=show_credential, update=update_credential, delete=delete_credential),
    Route("/v3/ec2tokens", ec2_token, methods=["POST"]),
    Route(_EC2, list_ec2, methods=["GET"]),
    Route(_EC2, create_ec2, methods=["POST"]),
    Route(_EC2 + "/{access}", show_ec2, methods=["GET"]),
    Route(_EC2 + "/{access}", delete_ec2, methods=["DELETE"]),
]
