"""Routes of Image API v2 "Metadata definitions" (metadefs) and their schema documents.

``NS`` is ``/v2/metadefs/namespaces``; ``{ns}`` a namespace name, ``{name}`` an
object, property, tag or resource type name.

| route | success | reference section |
|---|---|---|
| ``GET NS`` (limit, marker, sort_key, sort_dir, visibility, resource_types) | 200 ``{"namespaces", "first", "schema", "next"?}`` | List namespaces |
| ``POST NS`` | 201 namespace, ``Location`` | Create namespace |
| ``GET NS/{ns}`` (``resource_type``: apply its prefix) | 200 namespace with properties, objects, tags | Get namespace details |
| ``PUT NS/{ns}`` / ``DELETE NS/{ns}`` | 200 namespace / 204 | Update / Delete namespace |
| ``GET/POST/DELETE NS/{ns}/objects`` | 200 ``{"objects", "schema"}`` / 201 object / 204 | List / Create / Delete all objects |
| ``GET/PUT/DELETE NS/{ns}/objects/{name}`` | 200 / 200 / 204 | Show / Update / Delete object |
| ``GET/POST/DELETE NS/{ns}/properties`` | 200 ``{"properties": {name: definition}}`` / 201 / 204 | List / Create / Delete all properties |
| ``GET/PUT/DELETE NS/{ns}/properties/{name}`` (GET: ``resource_type``) | 200 / 200 / 204 | Show / Update / Remove property definition |
| ``GET NS/{ns}/tags`` (limit, marker, sort_key, sort_dir) | 200 ``{"tags"}`` | List tags |
| ``POST NS/{ns}/tags`` (``X-Openstack-Append``) / ``DELETE NS/{ns}/tags`` | 201 ``{"tags"}`` / 204 | Create tags / Delete all tag definitions |
| ``POST/GET/PUT/DELETE NS/{ns}/tags/{name}`` | 201 / 200 / 200 / 204 | Create / Get / Update / Delete tag definition |
| ``GET /v2/metadefs/resource_types`` | 200 ``{"resource_types"}`` | List resource types |
| ``GET/POST NS/{ns}/resource_types``, ``DELETE NS/{ns}/resource_types/{name}`` | 200 ``{"resource_type_associations"}`` / 201 / 204 | Resource type associations |
| ``GET /v2/schemas/metadefs/{kind}`` | 200 JSON schema | Metadata definition schemas |

Errors (glance's bodies, :mod:`kumo.image.api.errors`): 400 bad body or query,
403 non-admin write, read-only attribute or delete in a protected namespace,
404 unknown or invisible namespace or member, 409 taken name.
"""
from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body, parse_bool
from kumo.common.api.errors import NotFound
from kumo.image import metadef_schemas
from kumo.image.metadefs import MetadefService
from kumo.image.metadefs.views import (association_view, namespace_detail_view, namespace_view,
                                       object_view, property_view, resource_type_view, tag_view)

NS = "/v2/metadefs/namespaces"


def _svc(request: Request) -> MetadefService:
    return request.app.state.metadefs


def _ns(request: Request) -> str:
    return request.path_params["ns"]


def _name(request: Request) -> str:
    return request.path_params["name"]


def _no_content() -> Response:
    return Response(status_code=204)


# --- namespaces -----------------------------------------------------------------------------

async def list_namespaces(request: Request) -> JSONResponse:
    params = dict(request.query_params)
    rows, more = await _svc(request).namespaces.list(context(request), params)
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    body = {"namespaces": [namespace_view(ns) for ns in rows],
            "first": NS + (f"?{urlencode(rest)}" if rest else ""),
            "schema": "/v2/schemas/metadefs/namespaces"}
    if more and rows:
        body["next"] = f"{NS}?" + urlencode(rest + [("marker", rows[-1].namespace)])
    return JSONResponse(body)


async def create_namespace(request: Request) -> JSONResponse:
    ctx = context(request)
    detail = await _svc(request).namespaces.create(ctx, await json_body(request))
    return JSONResponse(namespace_detail_view(detail), status_code=201,
                        headers={"Location": f"{NS}/{detail.namespace.namespace}"})


async def show_namespace(request: Request) -> JSONResponse:
    detail = await _svc(request).namespaces.get(context(request), _ns(request),
                                                request.query_params.get("resource_type"))
    return JSONResponse(namespace_detail_view(detail))


async def update_namespace(request: Request) -> JSONResponse:
    ctx = context(request)
    ns = await _svc(request).namespaces.update(ctx, _ns(request), await json_body(request))
    return JSONResponse(namespace_view(ns))


async def delete_namespace(request: Request) -> Response:
    await _svc(request).namespaces.delete(context(request), _ns(request))
    return _no_content()


# --- objects --------------------------------------------------------------------------------

async def list_objects(request: Request) -> JSONResponse:
    ns = _ns(request)
    rows = await _svc(request).objects.list(context(request), ns)
    return JSONResponse({"objects": [object_view(ns, o) for o in rows],
                         "schema": "/v2/schemas/metadefs/objects"})


async def create_object(request: Request) -> JSONResponse:
    ctx, ns = context(request), _ns(request)
    obj = await _svc(request).objects.create(ctx, ns, await json_body(request))
    return JSONResponse(object_view(ns, obj), status_code=201)


async def delete_objects(request: Request) -> Response:
    await _svc(request).objects.delete_all(context(request), _ns(request))
    return _no_content()


async def show_object(request: Request) -> JSONResponse:
    ns = _ns(request)
    obj = await _svc(request).objects.get(context(request), ns, _name(request))
    return JSONResponse(object_view(ns, obj))


async def update_object(request: Request) -> JSONResponse:
    ctx, ns = context(request), _ns(request)
    obj = await _svc(request).objects.update(ctx, ns, _name(request), await json_body(request))
    return JSONResponse(object_view(ns, obj))


async def delete_object(request: Request) -> Response:
    await _svc(request).objects.delete(context(request), _ns(request), _name(request))
    return _no_content()


# --- properties -----------------------------------------------------------------------------

async def list_properties(request: Request) -> JSONResponse:
    rows = await _svc(request).properties.list(context(request), _ns(request))
    return JSONResponse({"properties": {p.name: dict(p.schema or {}) for p in rows}})


async def create_property(request: Request) -> JSONResponse:
    ctx = context(request)
    prop = await _svc(request).properties.create(ctx, _ns(request), await json_body(request))
    return JSONResponse(property_view(prop), status_code=201)


async def delete_properties(request: Request) -> Response:
    await _svc(request).properties.delete_all(context(request), _ns(request))
    return _no_content()


async def show_property(request: Request) -> JSONResponse:
    name = _name(request)
    prop = await _svc(request).properties.get(context(request), _ns(request), name,
                                              request.query_params.get("resource_type"))
    return JSONResponse(property_view(prop, name))


async def update_property(request: Request) -> JSONResponse:
    ctx = context(request)
    prop = await _svc(request).properties.update(ctx, _ns(request), _name(request),
                                                 await json_body(request))
    return JSONResponse(property_view(prop))


async def delete_property(request: Request) -> Response:
    await _svc(request).properties.delete(context(request), _ns(request), _name(request))
    return _no_content()


# --- tags -----------------------------------------------------------------------------------

async def list_tags(request: Request) -> JSONResponse:
    rows = await _svc(request).tags.list(context(request), _ns(request), dict(request.query_params))
    return JSONResponse({"tags": [tag_view(t) for t in rows]})


async def create_tags(request: Request) -> JSONResponse:
    ctx = context(request)
    raw = request.headers.get("x-openstack-append")
    append = parse_bool("X-Openstack-Append header", raw) if raw else False
    rows = await _svc(request).tags.create_many(ctx, _ns(request), await json_body(request), append)
    return JSONResponse({"tags": [tag_view(t) for t in rows]}, status_code=201)


async def delete_tags(request: Request) -> Response:
    await _svc(request).tags.delete_all(context(request), _ns(request))
    return _no_content()


async def create_tag(request: Request) -> JSONResponse:
    tag = await _svc(request).tags.create(context(request), _ns(request), _name(request))
    return JSONResponse(tag_view(tag), status_code=201)


async def show_tag(request: Request) -> JSONResponse:
    tag = await _svc(request).tags.get(context(request), _ns(request), _name(request))
    return JSONResponse(tag_view(tag))


async def update_tag(request: Request) -> JSONResponse:
    ctx = context(request)
    tag = await _svc(request).tags.update(ctx, _ns(request), _name(request), await json_body(request))
    return JSONResponse(tag_view(tag))


async def delete_tag(request: Request) -> Response:
    await _svc(request).tags.delete(context(request), _ns(request), _name(request))
    return _no_content()


# --- resource types -------------------------------------------------------------------------

async def list_resource_types(request: Request) -> JSONResponse:
    context(request)
    rows = await _svc(request).resource_types.list()
    return JSONResponse({"resource_types": [resource_type_view(rt) for rt in rows]})


async def list_associations(request: Request) -> JSONResponse:
    rows = await _svc(request).resource_types.associations(context(request), _ns(request))
    return JSONResponse({"resource_type_associations": [association_view(a) for a in rows]})


async def create_association(request: Request) -> JSONResponse:
    ctx = context(request)
    assoc = await _svc(request).resource_types.create_association(ctx, _ns(request),
                                                                  await json_body(request))
    return JSONResponse(association_view(assoc), status_code=201)


async def delete_association(request: Request) -> Response:
    await _svc(request).resource_types.delete_association(context(request), _ns(request), _name(request))
    return _no_content()


# --- schemas --------------------------------------------------------------------------------

async def show_schema(request: Request) -> JSONResponse:
    kind = request.path_params["kind"]
    document = metadef_schemas.DOCUMENTS.get(kind)
    if document is None:
        raise NotFound(f"No metadata definition schema called {kind}")
    return JSONResponse(document())


routes = [
    Route(NS, list_namespaces, methods=["GET"]),
    Route(NS, create_namespace, methods=["POST"]),
    Route(NS + "/{ns}", show_namespace, methods=["GET"]),
    Route(NS + "/{ns}", update_namespace, methods=["PUT"]),
    Route(NS + "/{ns}", delete_namespace, methods=["DELETE"]),
    Route(NS + "/{ns}/objects", list_objects, methods=["GET"]),
    Route(NS + "/{ns}/objects", create_object, methods=["POST"]),
    Route(NS + "/{ns}/objects", delete_objects, methods=["DELETE"]),
    Route(NS + "/{ns}/objects/{name}", show_object, methods=["GET"]),
    Route(NS + "/{ns}/objects/{name}", update_object, methods=["PUT"]),
    Route(NS + "/{ns}/objects/{name}", delete_object, methods=["DELETE"]),
    Route(NS + "/{ns}/properties", list_properties, methods=["GET"]),
    Route(NS + "/{ns}/properties", create_property, methods=["POST"]),
    Route(NS + "/{ns}/properties", delete_properties, methods=["DELETE"]),
    Route(NS + "/{ns}/properties/{name}", show_property, methods=["GET"]),
    Route(NS + "/{ns}/properties/{name}", update_property, methods=["PUT"]),
    Route(NS + "/{ns}/properties/{name}", delete_property, methods=["DELETE"]),
    Route(NS + "/{ns}/tags", list_tags, methods=["GET"]),
    Route(NS + "/{ns}/tags", create_tags, methods=["POST"]),
    Route(NS + "/{ns}/tags", delete_tags, methods=["DELETE"]),
    Route(NS + "/{ns}/tags/{name}", create_tag, methods=["POST"]),
    Route(NS + "/{ns}/tags/{name}", show_tag, methods=["GET"]),
    Route(NS + "/{ns}/tags/{name}", update_tag, methods=["PUT"]),
    Route(NS + "/{ns}/tags/{name}", delete_tag, methods=["DELETE"]),
    Route(NS + "/{ns}/resource_types", list_associations, methods=["GET"]),
    Route(NS + "/{ns}/resource_types", create_association, methods=["POST"]),
    Route(NS + "/{ns}/resource_types/{name}", delete_association, methods=["DELETE"]),
    Route("/v2/metadefs/resource_types", list_resource_types, methods=["GET"]),
    Route("/v2/schemas/metadefs/{kind}", show_schema, methods=["GET"]),
]
