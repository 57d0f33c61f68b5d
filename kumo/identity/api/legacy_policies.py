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
from kumo.identity.api import crud
from kumo.identity.api.common import enforce
from kumo.identity.legacy_policies import PolicyService


def _svc(request: Request) -> PolicyService:
    return request.app.state.policies


def policy_view(p: m.Policy, root: str) -> dict:
    shown = dict(p.extra or {})
    shown.update({"id": p.id, "type": p.type, "blob": p.blob, "links": {"self": f"{root}/v3/policies/{p.id}"}})
    return shown


# --- OS-ENDPOINT-POLICY ----------------------------------------------------------------------

_TARGETS = {"endpoint": "endpoints/{endpoint_id}", "service": "services/{service_id}",
            "region_and_service": "services/{service_id}/regions/{region_id}"}


def _association_routes(scope: str) -> list[Route]:
    """PUT / GET+HEAD / DELETE of one association kind (``scope`` names keystone's rules)."""
    params = ("policy_id", *(k for k in ("endpoint_id", "service_id", "region_id") if f"{{{k}}}" in _TARGETS[scope]))
    return crud.association(f"/v3/policies/{{policy_id}}/OS-ENDPOINT-POLICY/{_TARGETS[scope]}", _svc, params,
                            add=(f"identity:create_policy_association_for_{scope}", "associate"),
                            check=(f"identity:check_policy_association_for_{scope}", "check_association"),
                            remove=(f"identity:delete_policy_association_for_{scope}", "dissociate"))


async def list_policy_endpoints(request: Request):
    enforce(request, "identity:list_endpoints_for_policy")
    policy_id = request.path_params["policy_id"]
    found = await _svc(request).policy_endpoints(policy_id)
    return crud.listed(request, "endpoints", found, views.endpoint,
                       f"policies/{policy_id}/OS-ENDPOINT-POLICY/endpoints")


async def show_endpoint_policy(request: Request):
    enforce(request, "identity:get_policy_for_endpoint")
    p = await _svc(request).endpoint_policy(request.path_params["endpoint_id"])
    return crud.shown(request, "policy", p, policy_view)


routes = [
    *(r for scope in _TARGETS for r in _association_routes(scope)),
    Route("/v3/policies/{policy_id}/OS-ENDPOINT-POLICY/endpoints", list_policy_endpoints, methods=["GET"]),
    Route("/v3/endpoints/{endpoint_id}/OS-ENDPOINT-POLICY/policy", show_endpoint_policy, methods=["GET"]),
    *crud.standard("/v3/policies", "policy_id", singular="policy", plural="policies", service=_svc,
                   view=policy_view, create_schema=rs.PolicyCreate, update_schema=rs.PolicyUpdate,
                   noun="policy", nouns="policies", filters=("type",)),
]
