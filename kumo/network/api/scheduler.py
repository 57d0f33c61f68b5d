"""HTTP handlers of the agent schedulers (Networking API v2.0, "L3 agent scheduler",
"DHCP agent scheduler"); the rules and errors are :mod:`kumo.network.service.scheduler`'s.

- ``GET /v2.0/routers/{id}/l3-agents`` -> 200 ``{"agents": [...]}``
- ``GET /v2.0/agents/{id}/l3-routers`` -> 200 ``{"routers": [...]}``
- ``POST /v2.0/agents/{id}/l3-routers`` ``{"router_id"}`` -> 201, body ``null``
- ``DELETE /v2.0/agents/{id}/l3-routers/{router_id}`` -> 204
- ``GET /v2.0/networks/{id}/dhcp-agents`` -> 200 ``{"agents": [...]}``
- ``GET /v2.0/agents/{id}/dhcp-networks`` -> 200 ``{"networks": [...]}``
- ``POST /v2.0/agents/{id}/dhcp-networks`` ``{"network_id"}`` -> 201, body ``null``
- ``DELETE /v2.0/agents/{id}/dhcp-networks/{network_id}`` -> 204

Lists honour the usual filters, sorting, paging and ``fields``.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.network.api.listing import list_response


def _listing(collection: str, method: str):
    async def handler(request: Request) -> JSONResponse:
        svc = request.app.state.service
        items = await getattr(svc, method)(context(request), request.path_params["id"])
        return JSONResponse(list_response(request, collection, items))
    return handler


def _adder(method: str):
    async def handler(request: Request) -> JSONResponse:
        svc = request.app.state.service
        await getattr(svc, method)(context(request), request.path_params["id"],
                                   await json_body(request))
        return JSONResponse(None, status_code=201)
    return handler


def _remover(method: str, key: str):
    async def handler(request: Request) -> Response:
        svc = request.app.state.service
        await getattr(svc, method)(context(request), request.path_params["id"],
                                   request.path_params[key])
        return Response(status_code=204)
    return handler


def routes() -> list[Route]:
    """The scheduler routes under ``/v2.0/agents``, ``/v2.0/routers`` and ``/v2.0/networks``."""
    return [
        Route("/v2.0/routers/{id}/l3-agents", _listing("agents", "list_l3_agents_hosting_router"),
              methods=["GET"]),
        Route("/v2.0/agents/{id}/l3-routers", _listing("routers", "list_routers_on_l3_agent"),
              methods=["GET"]),
        Route("/v2.0/agents/{id}/l3-routers", _adder("add_router_to_l3_agent"), methods=["POST"]),
        Route("/v2.0/agents/{id}/l3-routers/{router_id}",
              _remover("remove_router_from_l3_agent", "router_id"), methods=["DELETE"]),
        Route("/v2.0/networks/{id}/dhcp-agents",
              _listing("agents", "list_dhcp_agents_hosting_network"), methods=["GET"]),
        Route("/v2.0/agents/{id}/dhcp-networks", _listing("networks", "list_networks_on_dhcp_agent"),
              methods=["GET"]),
        Route("/v2.0/agents/{id}/dhcp-networks", _adder("add_network_to_dhcp_agent"),
              methods=["POST"]),
        Route("/v2.0/agents/{id}/dhcp-networks/{network_id}",
              _remover("remove_network_from_dhcp_agent", "network_id"), methods=["DELETE"]),
    ]
