"""Subnet pool prefix operations (Networking API v2.0 "Subnet pool prefix operations",
extension ``subnetpool-prefix-ops``).

``PUT /v2.0/subnetpools/{id}/add_prefixes`` and ``.../remove_prefixes`` with
``{"prefixes": ["<cidr>", ...]}`` -> 200 ``{"prefixes": [...]}`` (the pool's
merged prefixes afterwards). 400 for a malformed body or prefix, 404 for an
invisible pool, 403 without the ``add_prefixes`` / ``remove_prefixes`` rule,
409 ``SubnetPoolInUse`` when a removed prefix holds a subnet. The pool's
CRUD are the generic collection routes (:mod:`kumo.network.api.routes`).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest
from kumo.network import schemas


def _prefix_action(action: str):
    async def handler(request: Request) -> JSONResponse:
        body = await json_body(request)
        if not isinstance(body, dict) or set(body) != {"prefixes"}:
            raise BadRequest("Body must be {\"prefixes\": [<cidr>, ...]}", kind="HTTPBadRequest")
        prefixes = schemas.prefix_list("prefixes", body["prefixes"])
        out = await request.app.state.service.change_prefixes(
            context(request), request.path_params["id"], action, prefixes)
        return JSONResponse({"prefixes": out})
    return handler


def routes() -> list[Route]:
    return [Route(f"/v2.0/subnetpools/{{id}}/{action}", _prefix_action(action), methods=["PUT"])
            for action in ("add_prefixes", "remove_prefixes")]
