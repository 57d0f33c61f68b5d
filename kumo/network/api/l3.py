"""HTTP handlers of router interfaces (Networking API v2.0, "Routers": "Add interface to
router", "Remove interface from router").

``PUT /v2.0/routers/{id}/add_router_interface`` and ``.../remove_router_interface``
take ``{"subnet_id": ...}`` or ``{"port_id": ...}`` (not wrapped) and answer 200
with ``{"id", "tenant_id", "project_id", "port_id", "network_id", "subnet_id",
"subnet_ids"}``. The routers and floatingips collections use the generic
handlers of :mod:`kumo.network.api.routes`.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body


async def add_router_interface(request: Request) -> JSONResponse:
    svc = request.app.state.service
    info = await svc.add_router_interface(context(request), request.path_params["id"],
                                          await json_body(request))
    return JSONResponse(info)


async def remove_router_interface(request: Request) -> JSONResponse:
    svc = request.app.state.service
    info = await svc.remove_router_interface(context(request), request.path_params["id"],
                                             await json_body(request))
    return JSONResponse(info)


def routes() -> list[Route]:
    """The interface actions of ``/v2.0/routers/{id}``."""
    return [
        Route("/v2.0/routers/{id}/add_router_interface", add_router_interface, methods=["PUT"]),
        Route("/v2.0/routers/{id}/remove_router_interface", remove_router_interface,
              methods=["PUT"]),
    ]
