"""Policy documents (Identity API v3: "Policies"; extension OS-ENDPOINT-POLICY).

``GET/POST /v3/policies`` (filter ``type``), ``GET/PATCH/DELETE
/v3/policies/{policy_id}``. A policy is ``{id, type, blob, links}`` plus its
extra attributes. Create 201, delete 204; 400 for a body without a string
``type`` and ``blob``, 404 for unknown ids.

OS-ENDPOINT-POLICY, under ``/v3/policies/{policy_id}/OS-ENDPOINT-POLICY``:
``endpoints/{endpoint_id}``, ``services/{service_id}`` and
``services/{service_id}/regions/{region_id}`` take PUT (associate), GET or
HEAD (check) and DELETE, all answering 204 (404 when not associated);
``endpoints`` (GET) lists the endpoints the policy applies to, and ``GET
/v3/endpoints/{endpoint_id}/OS-ENDPOINT-POLICY/policy`` shows an endpoint's
effective policy. Policy: keystone's rules (admin writes, readers read).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.identity import models as m
from kumo.identity import resource_schemas as rs
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
    data = await body(request, "policy", rs.PolicyCreate)
    p = await _svc(request).create_policy(data)
    return json({"policy": policy_view(p, base(request))}, status=201)


async def show_policy(request: Request):
    enforce(request, "identity:get_policy")
    p = await _svc(request).get_policy(request.path_params["policy_id"])
    return json({"policy": policy_view(p, base(request))})


async def update_policy(request: Request):
    enforce(request, "identity:update_policy")
    data = await body(request, "policy", rs.PolicyUpdate)
    p = await _svc(request).update_policy(request.path_params["policy_id"], data)
    return json({"policy": policy_view(p, base(request))})


async def delete_policy(request: Request):
    enforce(request, "identity:delete_policy")
    await _svc(request).delete_policy(request.path_params["policy_id"])
    return no_content()


# --- OS-ENDPOINT-POLICY ----------------------------------------------------------------------

_TARGETS = {"endpoint": "endpoints/{endpoint_id}", "service": "services/{service_id}",
            "region_and_service": "services/{service_id}/regions/{region_id}"}


def _association_handlers(scope: str) -> list[Route]:
    """PUT / GET+HEAD / DELETE of one association kind (``scope`` names keystone's rules)."""
    def target(request: Request) -> dict:
        p = request.path_params
        return {k: p.get(k) for k in ("endpoint_id", "service_id", "region_id")}

    async def create(request: Request):
        enforce(request, f"identity:create_policy_association_for_{scope}")
        await _svc(request).associate(request.path_params["policy_id"], **target(request))
        return no_content()

    async def check(request: Request):
        enforce(request, f"identity:check_policy_association_for_{scope}")
        await _svc(request).check_association(request.path_params["policy_id"], **target(request))
        return no_content()

    async def remove(request: Request):
        enforce(request, f"identity:delete_policy_association_for_{scope}")
        await _svc(request).dissociate(request.path_params["policy_id"], **target(request))
        return no_content()

    path = f"/v3/policies/{{policy_id}}/OS-ENDPOINT-POLICY/{_TARGETS[scope]}"
    return [Route(path, create, methods=["PUT"]), Route(path, check, methods=["GET", "HEAD"]),
            Route(path, remove, methods=["DELETE"])]


async def list_policy_endpoints(request: Request):
    enforce(request, "identity:list_endpoints_for_policy")
    policy_id = request.path_params["policy_id"]
    root = base(request)
    found = await _svc(request).policy_endpoints(policy_id)
    return json({"endpoints": [views.endpoint(e, root) for e in found],
                 "links": views.collection_links(root, f"policies/{policy_id}/OS-ENDPOINT-POLICY/endpoints")})


async def show_endpoint_policy(request: Request):
    enforce(request, "identity:get_policy_for_endpoint")
    p = await _svc(request).endpoint_policy(request.path_params["endpoint_id"])
    return json({"policy": policy_view(p, base(request))})


routes = [
    *(r for scope in _TARGETS for r in _association_handlers(scope)),
    Route("/v3/policies/{policy_id}/OS-ENDPOINT-POLICY/endpoints", list_policy_endpoints, methods=["GET"]),
    Route("/v3/endpoints/{endpoint_id}/OS-ENDPOINT-POLICY/policy", show_endpoint_policy, methods=["GET"]),
    Route("/v3/policies", list_policies, methods=["GET"]),
    Route("/v3/policies", create_policy, methods=["POST"]),
    Route("/v3/policies/{policy_id}", show_policy, methods=["GET"]),
    Route("/v3/policies/{policy_id}", update_policy, methods=["PATCH"]),
    Route("/v3/policies/{policy_id}", delete_policy, methods=["DELETE"]),
]
