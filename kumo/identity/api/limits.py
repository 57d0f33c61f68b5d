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
from kumo.identity.api import crud
from kumo.identity.api.common import base, body, enforce, json, policy
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


def _created(request: Request, key: str, rows, view: crud.View):
    """The 201 answer of a bulk create: ``{key: [view...]}`` (no links)."""
    root = base(request)
    return json({key: [view(r, root) for r in rows]}, status=201)


async def create_registered(request: Request):
    """Bulk create: ``{"registered_limits": [...]}`` in and out."""
    enforce(request, "identity:create_registered_limits")
    data = await body(request, None, rs.RegisteredLimitsCreate)
    return _created(request, "registered_limits", await _svc(request).create_registered(data.registered_limits),
                    registered_view)


def _target(lim: m.Limit) -> dict:
    return {"project_id": lim.project_id, "domain_id": lim.domain_id}


async def list_limits(request: Request):
    """The limits the caller may read (``identity:get_limit`` on each: a reader sees all, a
    project member those of its project)."""
    ctx = enforce(request, "identity:list_limits")
    rules = policy(request)
    q = request.query_params
    found = await _svc(request).list_limits(**{k: q[k] for k in (*_FILTERS, "project_id", "domain_id") if k in q})
    found = [lim for lim in found if rules.check(ctx, "identity:get_limit", _target(lim))]
    return crud.listed(request, "limits", found, limit_view, "limits")


async def create_limits(request: Request):
    """Bulk create: ``{"limits": [...]}`` in and out."""
    enforce(request, "identity:create_limits")
    data = await body(request, None, rs.LimitsCreate)
    return _created(request, "limits", await _svc(request).create_limits(data.limits), limit_view)


async def show_limit(request: Request):
    lim = await _svc(request).get_limit(request.path_params["limit_id"])
    enforce(request, "identity:get_limit", target=_target(lim))
    return crud.shown(request, "limit", lim, limit_view)


async def show_model(request: Request):
    enforce(request, "identity:get_limit_model")
    return json({"model": dict(MODEL)})


routes = [
    *crud.standard("/v3/registered_limits", "limit_id", singular="registered_limit", plural="registered_limits",
                   service=_svc, view=registered_view, create_schema=None, update_schema=rs.RegisteredLimitUpdate,
                   noun="registered", nouns="registered", filters=_FILTERS, create=create_registered),
    Route("/v3/limits/model", show_model, methods=["GET"]),
    *crud.standard("/v3/limits", "limit_id", singular="limit", plural="limits", service=_svc, view=limit_view,
                   create_schema=None, update_schema=rs.LimitUpdate, noun="limit", nouns="limits",
                   list=list_limits, create=create_limits, show=show_limit),
]
