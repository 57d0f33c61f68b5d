"""Domain configuration (Identity API v3: "Domain configuration").

- ``PUT/GET/PATCH/DELETE /v3/domains/{domain_id}/config`` (PUT answers 201
  when the domain had no config, 200 when it replaced one);
- ``GET/PATCH/DELETE /v3/domains/{domain_id}/config/{group}`` and
  ``.../config/{group}/{option}``;
- ``GET /v3/domains/config/default``, ``/v3/domains/config/{group}/default``
  and ``/v3/domains/config/{group}/{option}/default`` (keystone's defaults).

Bodies and answers are ``{"config": {group: {option: value}}}`` (an option
route: ``{"config": {option: value}}``); updates answer with the whole
config. Writes need the admin role (keystone's rules). Errors as in
:mod:`kumo.identity.domain_config`.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.identity import domain_config
from kumo.identity import resource_schemas as rs
from kumo.identity.api.common import body, enforce, json, no_content
from kumo.identity.domain_config import DomainConfigService


def _svc(request: Request) -> DomainConfigService:
    return request.app.state.domain_config


def _where(request: Request) -> tuple[str, str | None, str | None]:
    p = request.path_params
    return p["domain_id"], p.get("group"), p.get("option")


async def _config(request: Request) -> dict:
    """The ``config`` object of the body (400 if missing, 413 if too large)."""
    return (await body(request, None, rs.DomainConfigBody)).config


async def create_config(request: Request):
    enforce(request, "identity:create_domain_config")
    config, created = await _svc(request).create(request.path_params["domain_id"], await _config(request))
    return json({"config": config}, status=201 if created else 200)


async def show_config(request: Request):
    enforce(request, "identity:get_domain_config")
    return json({"config": await _svc(request).get(*_where(request))})


async def update_config(request: Request):
    enforce(request, "identity:update_domain_config")
    domain_id, group, option = _where(request)
    config = await _svc(request).update(domain_id, await _config(request), group, option)
    return json({"config": config})


async def delete_config(request: Request):
    enforce(request, "identity:delete_domain_config")
    await _svc(request).delete(*_where(request))
    return no_content()


async def show_default(request: Request):
    enforce(request, "identity:get_domain_config_default")
    p = request.path_params
    return json({"config": domain_config.defaults(p.get("group"), p.get("option"))})


_C = "/v3/domains/{domain_id}/config"

routes = [
    Route("/v3/domains/config/default", show_default, methods=["GET"]),
    Route("/v3/domains/config/{group}/default", show_default, methods=["GET"]),
    Route("/v3/domains/config/{group}/{option}/default", show_default, methods=["GET"]),
    Route(_C, create_config, methods=["PUT"]),
    Route(_C, show_config, methods=["GET"]),
    Route(_C, update_config, methods=["PATCH"]),
    Route(_C, delete_config, methods=["DELETE"]),
    Route(_C + "/{group}", show_config, methods=["GET"]),
    Route(_C + "/{group}", update_config, methods=["PATCH"]),
    Route(_C + "/{group}", delete_config, methods=["DELETE"]),
    Route(_C + "/{group}/{option}", show_config, methods=["GET"]),
    Route(_C + "/{group}/{option}", update_config, methods=["PATCH"]),
    Route(_C + "/{group}/{option}", delete_config, methods=["DELETE"]),
]
