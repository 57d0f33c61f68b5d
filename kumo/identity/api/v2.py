"""The minimal Identity API v2.0 older tools still use ("Tokens", "Tenants").

- ``POST /v2.0/tokens`` with ``{"auth": {"passwordCredentials": {"username",
  "password"}, "tenantName" | "tenantId"}}`` or ``{"auth": {"token": {"id"},
  "tenantId"...}}`` -> 200 ``{"access": {"token": {id, issued_at, expires,
  audit_ids, tenant}, "serviceCatalog": [...], "user": {...}, "metadata": {...}}}``.
  v2.0 users and tenants live in the default domain. 401 on refusal, 400
  for a malformed body.
- ``GET /v2.0/tenants`` -> ``{"tenants": [...], "tenants_links": []}``: the
  enabled projects the token's user has a role on.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator
from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import validate
from kumo.identity import schemas as s
from kumo.identity.api.common import assignments, body, identity, json, tokens
from kumo.identity.models import DEFAULT_DOMAIN_ID


class PasswordCredentials(BaseModel):
    model_config = ConfigDict(extra="ignore")
    username: StrictStr | None = None
    userId: StrictStr | None = None
    password: StrictStr = Field(max_length=4096)

    @model_validator(mode="after")
    def _who(self):
        if not self.username and not self.userId:
            raise ValueError("username is required")
        return self


class TokenCredentials(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: StrictStr = Field(min_length=1)


class V2Auth(BaseModel):
    model_config = ConfigDict(extra="ignore")
    passwordCredentials: PasswordCredentials | None = None
    token: TokenCredentials | None = None
    tenantName: StrictStr | None = None
    tenantId: StrictStr | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.passwordCredentials is None) == (self.token is None):
            raise ValueError("exactly one of passwordCredentials or token is required")
        return self


def _as_v3(req: V2Auth) -> s.AuthRequest:
    ident: dict[str, Any]
    if req.passwordCredentials is not None:
        pc = req.passwordCredentials
        user = {"id": pc.userId} if pc.userId else {"name": pc.username, "domain": {"id": DEFAULT_DOMAIN_ID}}
        ident = {"methods": ["password"], "password": {"user": {**user, "password": pc.password}}}
    else:
        ident = {"methods": ["token"], "token": {"id": req.token.id}}
    if req.tenantId:
        scope: Any = {"project": {"id": req.tenantId}}
    elif req.tenantName:
        scope = {"project": {"name": req.tenantName, "domain": {"id": DEFAULT_DOMAIN_ID}}}
    else:
        scope = "unscoped"
    return validate(s.AuthRequest, {"auth": {"identity": ident, "scope": scope}})


def _catalog(v3: list[dict]) -> list[dict]:
    out = []
    for svc in v3:
        regions: dict[str, dict] = {}
        for ep in svc["endpoints"]:
            entry = regions.setdefault(ep["region_id"] or "", {"id": ep["id"], "region": ep["region_id"]})
            entry[f"{ep['interface']}URL"] = ep["url"]
        out.append({"type": svc["type"], "name": svc["name"], "endpoints": list(regions.values()),
                    "endpoints_links": []})
    return out


def _tenant(p) -> dict:
    return {"id": p.id, "name": p.name, "description": p.description or "", "enabled": p.enabled}


async def create_token(request: Request):
    req = await body(request, "auth", V2Auth)
    token, data = await tokens(request).issue(_as_v3(req))
    t = data["token"]
    roles = t.get("roles", [])
    access: dict[str, Any] = {
        "token": {"id": token, "issued_at": t["issued_at"], "expires": t["expires_at"][:19] + "Z",
                  "audit_ids": t["audit_ids"]},
        "serviceCatalog": _catalog(t.get("catalog", [])),
        "user": {"id": t["user"]["id"], "name": t["user"]["name"], "username": t["user"]["name"],
                 "roles": [{"name": r["name"]} for r in roles], "roles_links": []},
        "metadata": {"is_admin": 0, "roles": [r["id"] for r in roles]},
    }
    if "project" in t:
        project = await identity(request).get_project(t["project"]["id"])
        access["token"]["tenant"] = _tenant(project)
    return json({"access": access})


async def list_tenants(request: Request):
    ctx = context(request)
    ids = await assignments(request).project_ids_for_user(ctx.user_id)
    found = await identity(request).list_projects(ids=ids, enabled=True)
    return json({"tenants": [_tenant(p) for p in found], "tenants_links": []})


routes = [
    Route("/v2.0/tokens", create_token, methods=["POST"]),
    Route("/v2.0/tenants", list_tenants, methods=["GET"]),
]
