"""HTTP handlers of the quotas extension (Networking API v2.0, "Quotas extension (quotas)").

- ``GET /v2.0/quotas`` (admin): ``{"quotas": [{project_id, tenant_id, <resource>: limit}]}``
- ``GET /v2.0/quotas/{project_id}``: ``{"quota": {<resource>: limit}}``
- ``PUT /v2.0/quotas/{project_id}`` (admin) with ``{"quota": {<resource>: limit}}``: the new limits
- ``DELETE /v2.0/quotas/{project_id}`` (admin): 204, back to the defaults
- ``GET /v2.0/quotas/{project_id}/default``: the defaults
- ``GET /v2.0/quotas/{project_id}/details``: ``{"quota": {<resource>: {limit, used, reserved}}}``
- ``GET /v2.0/quotas/tenant`` and ``/project``: ``{"tenant": {"tenant_id"}}`` / ``{"project": {...}}``

Resources: network, subnet, port, router, floatingip, security_group,
security_group_rule; a limit of ``-1`` is unlimited.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.network.service import NetworkService
from kumo.network.service.quotas import parse_quota


def _svc(request: Request) -> NetworkService:
    return request.app.state.service


async def list_quotas(request: Request) -> JSONResponse:
    return JSONResponse({"quotas": await _svc(request).list_quotas(context(request))})


async def show_quota(request: Request) -> JSONResponse:
    project = request.path_params["project_id"]
    return JSONResponse({"quota": await _svc(request).show_quota(context(request), project)})


async def update_quota(request: Request) -> JSONResponse:
    limits = parse_quota(await json_body(request))
    view = await _svc(request).update_quota(context(request), request.path_params["project_id"], limits)
    return JSONResponse({"quota": view})


async def delete_quota(request: Request) -> Response:
    await _svc(request).delete_quota(context(request), request.path_params["project_id"])
    return Response(status_code=204)


async def default_quota(request: Request) -> JSONResponse:
    project = request.path_params["project_id"]
    return JSONResponse({"quota": await _svc(request).quota_defaults(context(request), project)})


async def quota_details(request: Request) -> JSONResponse:
    project = request.path_params["project_id"]
    return JSONResponse({"quota": await _svc(request).quota_details(context(request), project)})


def _own(key: str):
    async def handler(request: Request) -> JSONResponse:
        project = context(request).project_id
        return JSONResponse({key: {f"{key}_id": project}})
    return handler


def routes() -> list[Route]:
    base = "/v2.0/quotas"
    return [
        Route(base, list_quotas, methods=["GET"]),
        Route(base + "/tenant", _own("tenant"), methods=["GET"]),
        Route(base + "/project", _own("project"), methods=["GET"]),
        Route(base + "/{project_id}", show_quota, methods=["GET"]),
        Route(base + "/{project_id}", update_quota, methods=["PUT"]),
        Route(base + "/{project_id}", delete_quota, methods=["DELETE"]),
        Route(base + "/{project_id}/default", default_quota, methods=["GET"]),
        Route(base + "/{project_id}/details", quota_details, methods=["GET"]),
        Route(base + "/{project_id}/details.json", quota_details, methods=["GET"]),
    ]
