"""Unified limits (Identity API v3: "Unified Limits").

- ``GET/POST /v3/registered_limits`` (filters ``service_id``, ``region_id``,
  ``resource_name``; POST takes and answers ``{"registered_limits": [...]}``),
  ``GET/PATCH/DELETE /v3/registered_limits/{id}`` (``{"registered_limit": {...}}``).
  A registered limit is ``{id, service_id, region_id, resource_name,
  default_limit, description, links}``.
- ``GET/POST /v3/limits`` (filters as above plus ``project_id``,
  ``domain_id``), ``GET/PATCH/DELETE /v3/limits/{id}`` (PATCH changes
  ``resource_limit`` and ``description``), ``GET /v3/limits/model``. A limit
  is ``{id, project_id, domain_id, service_id, region_id, resource_name,
  resource_limit, description, links}``.

Policy: keystone's rules (any token reads registered limits and the model;
an admin manages everything; the target of a limit is its ``project_id`` /
``domain_id``, so project members read their project's limits).
Create 201, delete 204; errors as in :mod:`kumo.identity.limits`.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.identity import models as m
from kumo.identity import resource_schemas as rs
from kumo.identity import views
from kumo.identity.api.common import base, body, enforce, json, no_content, policy
from kumo.identity.limits import MODEL, LimitService

_FILTERS = ("service_id", "region_id", "resource_name")


def _svc(request: Request) -> LimitService:
    return request.app.state.limits


def registered_view(r: m.RegisteredLimit, root: str) -> dict:
    return {"id": r.id, "service_id": r.service_id, "region_id": r.region_id, "resource_name": r.resource_name,
            "default_limit": r.default_limit, "description": r.description,
            "links": {"self": f"{root}/v3/registered_limits/{r.id}"}}


def limit_view(lim: m.Limit, root: str) -> dict:
    return {"id": lim.id, "project_id": lim.project_id, "domain_id": lim.domain_id,
            "service_id": lim.service_id, "region_id": lim.region_id, "resource_name": lim.resource_name,
            "resource_limit": lim.resource_limit, "description": lim.description,
            "links": {"self": f"{root}/v3/limits/{lim.id}"}}


def _query(request: Request, names) -> dict:
    return {k: request.query_params[k] for k in names if k in request.query_params}


async def list_registered(request: Request):
    enforce(request, "identity:list_registered_limits")
    root = base(request)
    found = await _svc(request).list_registered(**_query(request, _FILTERS))
    return json({"registered_limits": [registered_view(r, root) for r in found],
                 "links": views.collection_links(root, "registered_limits")})


async def create_registered(request: Request):
    enforce(request, "identity:create_registered_limits")
    data = await body(request, None, rs.RegisteredLimitsCreate)
    rows = await _svc(request).create_registered(data.registered_limits)
    root = base(request)
    return json({"registered_limits": [registered_view(r, root) for r in rows]}, status=201)


async def show_registered(request: Request):
    enforce(request, "identity:get_registered_limit")
    r = await _svc(request).get_registered(request.path_params["limit_id"])
    return json({"registered_limit": registered_view(r, base(request))})


async def update_registered(request: Request):
    enforce(request, "identity:update_registered_limit")
    data = await body(request, "registered_limit", rs.RegisteredLimitUpdate)
    r = await _svc(request).update_registered(request.path_params["limit_id"], data)
    return json({"registered_limit": registered_view(r, base(request))})


async def delete_registered(request: Request):
    enforce(request, "identity:delete_registered_limit")
    await _svc(request).delete_registered(request.path_params["limit_id"])
    return no_content()


def _target(lim: m.Limit) -> dict:
    return {"project_id": lim.project_id, "domain_id": lim.domain_id}


async def list_limits(request: Request):
    """The limits the caller may read (``identity:get_limit`` on each: a reader sees all, a
    project member those of its project)."""
    ctx = enforce(request, "identity:list_limits")
    rules = policy(request)
    root = base(request)
    found = await _svc(request).list_limits(**_query(request, (*_FILTERS, "project_id", "domain_id")))
    found = [lim for lim in found if rules.check(ctx, "identity:get_limit", _target(lim))]
    return json({"limits": [limit_view(lim, root) for lim in found],
                 "links": views.collection_links(root, "limits")})


async def create_limits(request: Request):
    enforce(request, "identity:create_limits")
    data = await body(request, None, rs.LimitsCreate)
    rows = await _svc(request).create_limits(data.limits)
    root = base(request)
    return json({"limits": [limit_view(lim, root) for lim in rows]}, status=201)


async def show_limit(request: Request):
    lim = await _svc(request).get_limit(request.path_params["limit_id"])
    enforce(request, "identity:get_limit", target=_target(lim))
    return json({"limit": limit_view(lim, base(request))})


async def update_limit(request: Request):
    enforce(request, "identity:update_limit")
    data = await body(request, "limit", rs.LimitUpdate)
    lim = await _svc(request).update_limit(request.path_params["limit_id"], data)
    return json({"limit": limit_view(lim, base(request))})


async def delete_limit(request: Request):
    enforce(request, "identity:delete_limit")
    await _svc(request).delete_limit(request.path_params["limit_id"])
    return no_content()


async def show_model(request: Request):
    enforce(request, "identity:get_limit_model")
    return json({"model": dict(MODEL)})


routes = [
    Route("/v3/registered_limits", list_registered, methods=["GET"]),
    Route("/v3/registered_limits", create_registered, methods=["POST"]),
    Route("/v3/registered_limits/{limit_id}", show_registered, methods=["GET"]),
    Route("/v3/registered_limits/{limit_id}", update_registered, methods=["PATCH"]),
    Route("/v3/registered_limits/{limit_id}", delete_registered, methods=["DELETE"]),
    Route("/v3/limits/model", show_model, methods=["GET"]),
    Route("/v3/limits", list_limits, methods=["GET"]),
    Route("/v3/limits", create_limits, methods=["POST"]),
    Route("/v3/limits/{limit_id}", show_limit, methods=["GET"]),
    Route("/v3/limits/{limit_id}", update_limit, methods=["PATCH"]),
    Route("/v3/limits/{limit_id}", delete_limit, methods=["DELETE"]),
]
