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
from kumo.identity.api.common import base, body, catalog, enforce, json, no_content


async def list_regions(request: Request):
    enforce(request, "identity:list_regions")
    found = await catalog(request).list_regions(request.query_params.get("parent_region_id"))
    root = base(request)
    return json({"regions": [views.region(r, root) for r in found],
                 "links": views.collection_links(root, "regions")})


async def show_region(request: Request):
    enforce(request, "identity:get_region")
    r = await catalog(request).get_region(request.path_params["region_id"])
    return json({"region": views.region(r, base(request))})


async def create_region(request: Request):
    enforce(request, "identity:create_region")
    data = await body(request, "region", s.RegionCreate)
    r = await catalog(request).create_region(data)
    return json({"region": views.region(r, base(request))}, status=201)


async def create_region_with_id(request: Request):
    enforce(request, "identity:create_region")
    data = await body(request, "region", s.RegionCreate)
    r = await catalog(request).create_region(data, request.path_params["region_id"])
    return json({"region": views.region(r, base(request))}, status=201)


async def update_region(request: Request):
    enforce(request, "identity:update_region")
    data = await body(request, "region", rs.RegionUpdate)
    r = await catalog(request).update_region(request.path_params["region_id"], data)
    return json({"region": views.region(r, base(request))})


async def delete_region(request: Request):
    enforce(request, "identity:delete_region")
    await catalog(request).delete_region(request.path_params["region_id"])
    return no_content()


async def list_services(request: Request):
    enforce(request, "identity:list_services")
    q = request.query_params
    found = await catalog(request).list_services(type=q.get("type"), name=q.get("name"))
    root = base(request)
    return json({"services": [views.service(x, root) for x in found],
                 "links": views.collection_links(root, "services")})


async def create_service(request: Request):
    enforce(request, "identity:create_service")
    data = await body(request, "service", s.ServiceCreate)
    svc = await catalog(request).create_service(data)
    return json({"service": views.service(svc, base(request))}, status=201)


async def show_service(request: Request):
    enforce(request, "identity:get_service")
    svc = await catalog(request).get_service(request.path_params["service_id"])
    return json({"service": views.service(svc, base(request))})


async def update_service(request: Request):
    enforce(request, "identity:update_service")
    data = await body(request, "service", s.ServiceUpdate)
    svc = await catalog(request).update_service(request.path_params["service_id"], data)
    return json({"service": views.service(svc, base(request))})


async def delete_service(request: Request):
    enforce(request, "identity:delete_service")
    await catalog(request).delete_service(request.path_params["service_id"])
    return no_content()


async def list_endpoints(request: Request):
    enforce(request, "identity:list_endpoints")
    q = request.query_params
    interface = q.get("interface")
    if interface is not None and interface not in ("public", "internal", "admin"):
        raise BadRequest(f"Invalid interface: {interface!r}.")
    found = await catalog(request).list_endpoints(interface=interface, service_id=q.get("service_id"),
                                                  region_id=q.get("region_id"))
    root = base(request)
    return json({"endpoints": [views.endpoint(e, root) for e in found],
                 "links": views.collection_links(root, "endpoints")})


async def create_endpoint(request: Request):
    enforce(request, "identity:create_endpoint")
    data = await body(request, "endpoint", s.EndpointCreate)
    ep = await catalog(request).create_endpoint(data)
    return json({"endpoint": views.endpoint(ep, base(request))}, status=201)


async def show_endpoint(request: Request):
    enforce(request, "identity:get_endpoint")
    ep = await catalog(request).get_endpoint(request.path_params["endpoint_id"])
    return json({"endpoint": views.endpoint(ep, base(request))})


async def update_endpoint(request: Request):
    enforce(request, "identity:update_endpoint")
    data = await body(request, "endpoint", s.EndpointUpdate)
    ep = await catalog(request).update_endpoint(request.path_params["endpoint_id"], data)
    return json({"endpoint": views.endpoint(ep, base(request))})


async def delete_endpoint(request: Request):
    enforce(request, "identity:delete_endpoint")
    await catalog(request).delete_endpoint(request.path_params["endpoint_id"])
    return no_content()


routes = [
    Route("/v3/regions", list_regions, methods=["GET"]),
    Route("/v3/regions", create_region, methods=["POST"]),
    Route("/v3/regions/{region_id}", show_region, methods=["GET"]),
    Route("/v3/regions/{region_id}", create_region_with_id, methods=["PUT"]),
    Route("/v3/regions/{region_id}", update_region, methods=["PATCH"]),
    Route("/v3/regions/{region_id}", delete_region, methods=["DELETE"]),
    Route("/v3/services", list_services, methods=["GET"]),
    Route("/v3/services", create_service, methods=["POST"]),
    Route("/v3/services/{service_id}", show_service, methods=["GET"]),
    Route("/v3/services/{service_id}", update_service, methods=["PATCH"]),
    Route("/v3/services/{service_id}", delete_service, methods=["DELETE"]),
    Route("/v3/endpoints", list_endpoints, methods=["GET"]),
    Route("/v3/endpoints", create_endpoint, methods=["POST"]),
    Route("/v3/endpoints/{endpoint_id}", show_endpoint, methods=["GET"]),
    Route("/v3/endpoints/{endpoint_id}", update_endpoint, methods=["PATCH"]),
    Route("/v3/endpoints/{endpoint_id}", delete_endpoint, methods=["DELETE"]),
]
