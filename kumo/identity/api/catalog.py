"""Regions, services and endpoints (Identity API v3: "Service catalog and endpoints").

- ``GET/POST /v3/regions`` (filter ``parent_region_id``), ``GET/PUT/PATCH/DELETE
  /v3/regions/{region_id}`` (any token may read; PUT creates with that id;
  DELETE removes child regions too, 403 while endpoints use them).
- ``GET/POST /v3/services`` (filters ``type``, ``name``),
  ``GET/PATCH/DELETE /v3/services/{service_id}``.
- ``GET/POST /v3/endpoints`` (filters ``interface``, ``service_id``,
  ``region_id``), ``GET/PATCH/DELETE /v3/endpoints/{endpoint_id}``.

Policy: keystone's identity:* rules (any token reads regions). Creates
answer 201; 404 for unknown ids in the path, 400 for invalid bodies
(including an unknown ``service_id`` or ``region_id``, or a region cycle),
409 for an existing region id. An endpoint's legacy ``region`` attribute
creates the region when it is unknown.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.errors import BadRequest
from kumo.identity import schemas as s
from kumo.identity import resource_schemas as rs
from kumo.identity import views
from kumo.identity.api import crud
from kumo.identity.api.common import body, catalog, enforce


async def create_region_with_id(request: Request):
    enforce(request, "identity:create_region")
    data = await body(request, "region", s.RegionCreate)
    r = await catalog(request).create_region(data, request.path_params["region_id"])
    return crud.shown(request, "region", r, views.region, 201)


async def list_endpoints(request: Request):
    """400 for an ``interface`` filter other than public/internal/admin."""
    enforce(request, "identity:list_endpoints")
    q = request.query_params
    interface = q.get("interface")
    if interface is not None and interface not in ("public", "internal", "admin"):
        raise BadRequest(f"Invalid interface: {interface!r}.")
    found = await catalog(request).list_endpoints(interface=interface, service_id=q.get("service_id"),
                                                  region_id=q.get("region_id"))
    return crud.listed(request, "endpoints", found, views.endpoint, "endpoints")


routes = [
    *crud.standard("/v3/regions", "region_id", singular="region", plural="regions", service=catalog,
                   view=views.region, create_schema=s.RegionCreate, update_schema=rs.RegionUpdate,
                   noun="region", nouns="regions", filters=("parent_region_id",)),
    Route("/v3/regions/{region_id}", create_region_with_id, methods=["PUT"]),
    *crud.standard("/v3/services", "service_id", singular="service", plural="services", service=catalog,
                   view=views.service, create_schema=s.ServiceCreate, update_schema=s.ServiceUpdate,
                   noun="service", nouns="services", filters=("type", "name")),
    *crud.standard("/v3/endpoints", "endpoint_id", singular="endpoint", plural="endpoints", service=catalog,
                   view=views.endpoint, create_schema=s.EndpointCreate, update_schema=s.EndpointUpdate,
                   noun="endpoint", nouns="endpoints", list=list_endpoints),
]
