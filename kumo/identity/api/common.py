"""Helpers shared by the identity API handlers: services, bodies, queries, policy."""
from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kumo.common.api import context
from kumo.common.api.body import json_body, validate
from kumo.common.api.errors import PayloadTooLarge
from kumo.common.api.versions import base_url
from kumo.common.auth.context import RequestContext
from kumo.common.policy import Policy
from kumo.identity import policies
from kumo.identity.assignment import AssignmentService
from kumo.identity.auth import TokenService
from kumo.identity.catalog import CatalogService
from kumo.identity.models import DEFAULT_DOMAIN_ID
from kumo.identity.service import IdentityService

M = TypeVar("M", bound=BaseModel)

#: keystone's ``max_request_body_size`` (bytes).
MAX_BODY = 114688


def identity(request: Request) -> IdentityService:
    return request.app.state.identity


def assignments(request: Request) -> AssignmentService:
    return request.app.state.assignments


def catalog(request: Request) -> CatalogService:
    return request.app.state.catalog


def tokens(request: Request) -> TokenService:
    return request.app.state.tokens


def base(request: Request) -> str:
    """``http://host:port`` as the client reached us (for links)."""
    return base_url(request)


async def body(request: Request, key: str, model: type[M]) -> M:
    """The ``key`` object of the JSON body validated as ``model``: 400 if malformed, 413 if too large."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise PayloadTooLarge("Request is too large.")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge("Request is too large.")
    return validate(model, await json_body(request, key))


def flag(request: Request, name: str) -> bool:
    """A keystone query flag: present and not ``0``/``false``/``no``/``off`` means true."""
    if name not in request.query_params:
        return False
    return request.query_params[name].lower() not in ("0", "false", "no", "off")


def json(data: dict, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


# --- policy (kumo.identity.policies: keystone's defaults on the common engine) ----------------

def policy(request: Request) -> Policy:
    """The identity API's :class:`~kumo.common.policy.Policy`, built on first use."""
    state = request.app.state
    rules = getattr(state, "policy", None)
    if rules is None:
        rules = state.policy = policies.policy(state.settings)
    return rules


def enforce(request: Request, action: str, allowed=None, target: dict | None = None) -> RequestContext:
    """The caller's context if the policy allows ``action`` (``identity:`` prefix optional);
    Forbidden (403, keystone's message) otherwise.

    The target is the URL's path parameters (``user_id``, ``project_id``, ``domain_id``...)
    updated with ``target`` (e.g. a credential's owner ``{"user_id": ...}``). ``allowed(ctx)``
    is the handlers' older way to grant more (self-service); it still allows when true.
    """
    ctx = context(request)
    name = action if action.startswith("identity:") else f"identity:{action}"
    rules = policy(request)
    if rules.check(ctx, name, {**request.path_params, **(target or {})}):
        return ctx
    if allowed is not None and allowed(ctx):
        return ctx
    raise rules.denial(name)


def default_domain(ctx: RequestContext) -> str:
    """Where a create without ``domain_id`` goes: the token's domain, else the default domain."""
    return ctx.domain_id or ctx.project_domain_id or DEFAULT_DOMAIN_ID
