"""Policy documents (Identity API v3: "Policies").

``GET/POST /v3/policies`` (filter ``type``), ``GET/PATCH/DELETE
/v3/policies/{policy_id}``. A policy is ``{id, type, blob, links}`` plus its
extra attributes. Admin only. Create 201, delete 204; 400 for a body
without a string ``type`` and ``blob``, 404 for unknown ids.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity import views
from kumo.identity.api.common import base, body, enforce, json, no_content
from kumo.identity.legacy_policies import PolicyService


def _svc(request: Request) -> PolicyService:
    return request.app.state.policies


def policy_view(p: m.Policy, root: str) -> dict:
    shown = dict(p.extra or {})
    shown.update({"id": p.id, "type": p.type, "blob": p.blob, "links": {"self": f"{root}/v3/policies/{p.id}"}})
    return shown


async def list_policies(request: Request):
    enforce(request, "identity:list_policies")
    root = base(request)
    found = await _svc(request).list_policies(request.query_params.get("type"))
    return json({"policies": [policy_view(p, root) for p in found],
                 "links": views.collection_links(root, "policies")})


async def create_policy(request: Request):
    enforce(request, "identity:create_policy")
    data = await body(request, "policy", s.PolicyCreate)
    p = await _svc(request).create_policy(data)
    return json({"policy": policy_view(p, base(request))}, status=201)


async def show_policy(request: Request):
    enforce(request, "identity:get_policy")
    p = await _svc(request).get_policy(request.path_params["policy_id"])
    return json({"policy": policy_view(p, base(request))})


async def update_policy(request: Request):
    enforce(request, "identity:update_policy")
    data = await body(request, "policy", s.PolicyUpdate)
    p = await _svc(request).update_policy(request.path_params["policy_id"], data)
    return json({"policy": policy_view(p, base(request))})


async def delete_policy(request: Request):
    enforce(request, "identity:delete_policy")
    await _svc(request).delete_policy(request.path_params["policy_id"])
    return no_content()


routes = [
    Route("/v3/policies", list_policies, methods=["GET"]),
    Route("/v3/policies", create_policy, methods=["POST"]),
    Route("/v3/policies/{policy_id}", show_policy, methods=["GET"]),
    Route("/v3/policies/{policy_id}", update_policy, methods=["PATCH"]),
    Route("/v3/policies/{policy_id}", delete_policy, methods=["DELETE"]),
]
