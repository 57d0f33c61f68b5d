"""HTTP handlers of the Networking API v2.0 (networks, subnets, ports, tags, agents, subnet
pools, address scopes).

Each collection has the reference's five operations: ``GET /v2.0/<plural>``
(list, see :mod:`kumo.network.api.listing`), ``POST`` (201; one
``{"<singular>": {...}}`` or the bulk form ``{"<plural>": [...]}``, all or
nothing), ``GET``/``PUT`` ``/v2.0/<plural>/{id}`` (200, ``fields`` honoured on
GET) and ``DELETE`` (204). Tags: ``/v2.0/<plural>/{id}/tags[/{tag}]``.
"""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.common.api.errors import ApiError, BadRequest
from kumo.network import errors, schemas
from kumo.network.api import discovery, l3, quotas, scheduler, subnetpools
from kumo.network.api.listing import fields_of, fixed_ips_matcher, list_response
from kumo.network.service import TAGGABLE, NetworkService

log = logging.getLogger(__name__)


def _svc(request: Request) -> NetworkService:
    return request.app.state.service


def _collection(plural: str, singular: str, extra_filters: dict | None = None,
                path: str | None = None) -> list[Route]:
    """The five routes of ``/v2.0/<path>`` (``path`` defaults to ``plural``, the body key)."""
    path = path or plural
    async def index(request: Request) -> JSONResponse:
        items = await getattr(_svc(request), f"list_{plural}")(context(request))
        return JSONResponse(list_response(request, plural, items, extra_filters))

    async def create(request: Request) -> JSONResponse:
        ctx = context(request)
        svc = _svc(request)
        objs, bulk = schemas.items(await json_body(request), singular, plural)
        parsed = [schemas.parse(singular, obj, "post") for obj in objs]
        created: list[dict] = []
        try:
            for body in parsed:
                created.append(await getattr(svc, f"create_{singular}")(ctx, body))
        except ApiError:
            for view in reversed(created):  # bulk creation is all or nothing
                try:
                    await getattr(svc, f"delete_{singular}")(ctx, view["id"])
                except ApiError:
                    log.exception("could not undo bulk-created %s %s", singular, view["id"])
            raise
        body = {plural: created} if bulk else {singular: created[0]}
        return JSONResponse(body, status_code=201)

    async def show(request: Request) -> JSONResponse:
        view = await getattr(_svc(request), f"show_{singular}")(context(request),
                                                                request.path_params["id"])
        return JSONResponse({singular: fields_of(request, view)})

    async def update(request: Request) -> JSONResponse:
        ctx = context(request)
        body = schemas.parse(singular, await json_body(request, singular), "put")
        view = await getattr(_svc(request), f"update_{singular}")(ctx, request.path_params["id"], body)
        return JSONResponse({singular: view})

    async def delete(request: Request) -> Response:
        await getattr(_svc(request), f"delete_{singular}")(context(request), request.path_params["id"])
        return Response(status_code=204)

    return [
        Route(f"/v2.0/{path}", index, methods=["GET"]),
        Route(f"/v2.0/{path}", create, methods=["POST"]),
        Route(f"/v2.0/{path}/{{id}}", show, methods=["GET"]),
        Route(f"/v2.0/{path}/{{id}}", update, methods=["PUT"]),
        Route(f"/v2.0/{path}/{{id}}", delete, methods=["DELETE"]),
    ]


def _tag_routes(plural: str) -> list[Route]:
    async def get_all(request: Request) -> JSONResponse:
        tags = await _svc(request).get_tags(context(request), plural, request.path_params["id"])
        return JSONResponse({"tags": tags})

    async def replace(request: Request) -> JSONResponse:
        body = await json_body(request)
        if not isinstance(body, dict) or "tags" not in body:
            raise BadRequest("Invalid tags body", kind="HTTPBadRequest")
        tags = schemas.tags("tags", body["tags"])
        out = await _svc(request).set_tags(context(request), plural, request.path_params["id"], tags)
        return JSONResponse({"tags": out})

    async def clear(request: Request) -> Response:
        await _svc(request).set_tags(context(request), plural, request.path_params["id"], [])
        return Response(status_code=204)

    async def check(request: Request) -> Response:
        p = request.path_params
        if p["tag"] not in await _svc(request).get_tags(context(request), plural, p["id"]):
            raise errors.tag_not_found(TAGGABLE[plural][0], p["id"], p["tag"])
        return Response(status_code=204)

    async def add(request: Request) -> Response:
        p = request.path_params
        tag = schemas.tags("tags", [p["tag"]])[0]
        await _svc(request).set_tags(context(request), plural, p["id"], None, add=tag)
        return Response(status_code=201)

    async def remove(request: Request) -> Response:
        p = request.path_params
        await _svc(request).set_tags(context(request), plural, p["id"], None, remove=p["tag"])
        return Response(status_code=204)

    base = f"/v2.0/{plural}/{{id}}/tags"
    return [
        Route(base, get_all, methods=["GET"]), Route(base, replace, methods=["PUT"]),
        Route(base, clear, methods=["DELETE"]),
        Route(base + "/{tag}", check, methods=["GET"]), Route(base + "/{tag}", add, methods=["PUT"]),
        Route(base + "/{tag}", remove, methods=["DELETE"]),
    ]


async def list_agents(request: Request) -> JSONResponse:
    items = await _svc(request).list_agents(context(request))
    return JSONResponse(list_response(request, "agents", items, {"agent_type": _agent_type}))


def _agent_type(agent: dict, wanted: list[str]) -> bool:
    """``agent_type`` filters ignore case ("L3 Agent" finds "L3 agent"), as neutron's
    MySQL collation does."""
    return agent["agent_type"].lower() in {w.lower() for w in wanted}


async def show_agent(request: Request) -> JSONResponse:
    view = await _svc(request).show_agent(context(request), request.path_params["id"])
    return JSONResponse({"agent": fields_of(request, view)})


async def update_agent(request: Request) -> JSONResponse:
    body = schemas.parse("agent", await json_body(request, "agent"), "put")
    view = await _svc(request).update_agent(context(request), request.path_params["id"], body)
    return JSONResponse({"agent": view})


async def delete_agent(request: Request) -> Response:
    await _svc(request).delete_agent(context(request), request.path_params["id"])
    return Response(status_code=204)


def routes() -> list[Route]:
    """Every route of the network API."""
    out = [
        Route("/", discovery.versions, methods=["GET"]),
        Route("/v2.0", discovery.resources, methods=["GET"]),
        Route("/v2.0/", discovery.resources, methods=["GET"]),
        Route("/v2.0/extensions", discovery.list_extensions, methods=["GET"]),
        Route("/v2.0/extensions/{alias}", discovery.show_extension, methods=["GET"]),
        Route("/v2.0/service-providers", discovery.list_service_providers, methods=["GET"]),
        Route("/v2.0/agents", list_agents, methods=["GET"]),
        Route("/v2.0/agents/{id}", show_agent, methods=["GET"]),
        Route("/v2.0/agents/{id}", update_agent, methods=["PUT"]),
        Route("/v2.0/agents/{id}", delete_agent, methods=["DELETE"]),
    ]
    out += _collection("networks", "network")
    out += _collection("subnets", "subnet")
    out += _collection("ports", "port", {"fixed_ips": fixed_ips_matcher})
    out += _collection("security_groups", "security_group", path="security-groups")
    out += _collection("security_group_rules", "security_group_rule", path="security-group-rules")
    out += quotas.routes()
    out += _collection("routers", "router")
    out += _collection("floatingips", "floatingip")
    out += l3.routes()
    out += scheduler.routes()
    out += _collection("subnetpools", "subnetpool")
    out += _collection("address_scopes", "address_scope", path="address-scopes")
    out += subnetpools.routes()
    for plural in TAGGABLE:
        out += _tag_routes(plural)
    return out
