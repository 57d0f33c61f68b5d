"""Implied roles (Identity API v3: "Roles" - "Create role inference rule" and the rest).

- ``PUT /v3/roles/{prior_role_id}/implies/{implied_role_id}`` -> 201
  ``{"role_inference": {"prior_role": ref, "implies": ref}, "links": {"self"}}``;
  403 when keystone refuses the rule (see :mod:`kumo.identity.implied`).
- ``GET`` of the same URL -> 200 with the same body, ``HEAD`` -> 204,
  ``DELETE`` -> 204; 404 for unknown roles or rules.
- ``GET /v3/roles/{prior_role_id}/implies`` -> ``{"role_inference":
  {"prior_role": ref, "implies": [refs]}, "links"}`` (direct rules only).
- ``GET /v3/role_inferences`` -> ``{"role_inferences": [{"prior_role", "implies": [refs]}], "links"}``.

A ref is ``{"id", "name", "links": {"self"}}``.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.identity import models as m
from kumo.identity.api.common import assignments, base, enforce, json, no_content


def _ref(r: m.Role, root: str) -> dict:
    return {"id": r.id, "name": r.name, "links": {"self": f"{root}/v3/roles/{r.id}"}}


def _links(request: Request) -> dict:
    return {"self": f"{base(request)}{request.url.path}"}


async def rule(request: Request):
    svc = assignments(request)
    prior_id, implied_id = request.path_params["prior_role_id"], request.path_params["implied_role_id"]
    if request.method == "DELETE":
        enforce(request, "delete_implied_role")
        await svc.delete_implied(prior_id, implied_id)
        return no_content()
    if request.method == "HEAD":
        enforce(request, "check_implied_role")
        await svc.get_implied(prior_id, implied_id)
        return no_content()
    if request.method == "PUT":
        enforce(request, "create_implied_role")
        prior, implied = await svc.create_implied(prior_id, implied_id)
    else:
        enforce(request, "get_implied_role")
        prior, implied = await svc.get_implied(prior_id, implied_id)
    root = base(request)
    return json({"role_inference": {"prior_role": _ref(prior, root), "implies": _ref(implied, root)},
                 "links": _links(request)}, status=201 if request.method == "PUT" else 200)


async def list_implied(request: Request):
    enforce(request, "list_implied_roles")
    prior, implied = await assignments(request).list_implied(request.path_params["prior_role_id"])
    root = base(request)
    return json({"role_inference": {"prior_role": _ref(prior, root), "implies": [_ref(r, root) for r in implied]},
                 "links": _links(request)})


async def list_inferences(request: Request):
    enforce(request, "list_role_inference_rules")
    root = base(request)
    rules = [{"prior_role": _ref(prior, root), "implies": [_ref(r, root) for r in implied]}
             for prior, implied in await assignments(request).list_inferences()]
    return json({"role_inferences": rules, "links": _links(request)})


routes = [
    Route("/v3/roles/{prior_role_id}/implies", list_implied, methods=["GET"]),
    Route("/v3/roles/{prior_role_id}/implies/{implied_role_id}", rule, methods=["PUT", "GET", "HEAD", "DELETE"]),
    Route("/v3/role_inferences", list_inferences, methods=["GET"]),
]
