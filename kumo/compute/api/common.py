"""Helpers shared by the compute API handlers: version, policy, links, paging."""
from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kumo.common.api import context
from kumo.common.api.errors import ApiError, BadRequest, NotFound
from kumo.common.api.versions import base_url
from kumo.common.auth.context import RequestContext
from kumo.common.policy import Policy

#: Most items a list returns in one page (nova's ``max_limit``).
MAX_LIMIT = 1000


class NotImplementedError_(ApiError):
    """501: the operation exists in the API but this cloud cannot do it."""

    status, kind = 501, "NotImplemented"


def version(request: Request) -> tuple[int, int]:
    """The request's microversion, ``(2, 1)`` when the middleware did not run."""
    return getattr(request.state, "api_version", (2, 1))


def at_least(request: Request, major: int, minor: int) -> bool:
    """True if the request's microversion is at least major.minor."""
    return version(request) >= (major, minor)


def policy(request: Request) -> Policy:
    """The compute API's :class:`~kumo.common.policy.Policy` (defaults in kumo.compute.policies)."""
    return request.app.state.policy


def authorize(request: Request, action: str, target: dict | None = None) -> RequestContext:
    """The caller's context if the policy allows ``action`` on ``target`` (None: the caller's own
    project); 403 "Policy doesn't allow <action> to be performed." otherwise.
    """
    ctx = context(request)
    policy(request).authorize(ctx, action, target)
    return ctx


def is_admin(request: Request) -> bool:
    """The ``context_is_admin`` rule for the caller (all projects' servers, admin-only filters)."""
    return policy(request).is_admin(context(request))


def server_target(inst) -> dict:
    """The policy target of a server: its project and user."""
    return {"project_id": inst.project_id, "user_id": inst.user_id}


async def authorized_server(request: Request, action: str):
    """``(ctx, instance)`` of the URL's ``server_id`` if the caller sees it (404 otherwise) and
    may do ``action`` on it (403)."""
    ctx = context(request)
    inst = await request.app.state.compute.get_instance(ctx, request.path_params["server_id"])
    policy(request).authorize(ctx, action, server_target(inst))
    return ctx, inst


def proxy_api(request: Request) -> None:
    """404 from microversion 2.36, where nova removed its network proxy APIs (os-security-groups,
    os-floating-ips, os-networks...)."""
    if at_least(request, 2, 36):
        raise NotFound("The resource could not be found.")


async def server_for(request: Request, action: str):
    """``(ctx, instance)`` for the URL's ``server_id``: 404 unless the caller sees the server,
    then 403 unless the policy allows ``action`` on it."""
    ctx = context(request)
    inst = await request.app.state.compute.get_instance(ctx, request.path_params["server_id"])
    policy(request).authorize(ctx, action, server_target(inst))
    return ctx, inst


def prefix(request: Request) -> str:
    """``http://host:port/v2.1`` (``/v2`` for the legacy API) plus ``/{project_id}`` when the URL had one."""
    project = getattr(request.state, "url_project_id", "")
    major = "/v2" if getattr(request.state, "legacy_v2", False) else "/v2.1"
    return base_url(request) + major + (f"/{project}" if project else "")


def links(request: Request, collection: str, ident: str) -> list[dict]:
    """``self`` and ``bookmark`` links of a resource, as nova builds them."""
    project = getattr(request.state, "url_project_id", "")
    root = base_url(request)
    bookmark = root + (f"/{project}" if project else "") + f"/{collection}/{ident}"
    return [{"rel": "self", "href": f"{prefix(request)}/{collection}/{ident}"},
            {"rel": "bookmark", "href": bookmark}]


def bookmark(request: Request, collection: str, ident: str) -> list[dict]:
    """Only the ``bookmark`` link (images and flavors inside a server)."""
    return [links(request, collection, ident)[1]]


def limit_param(request: Request) -> int:
    """``limit`` query parameter capped at :data:`MAX_LIMIT`; 400 if not a non-negative int."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return MAX_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid input for query parameters limit. Value: {raw}. "
                         f"'{raw}' does not match '^[0-9]*$'") from None
    if value < 0:
        raise BadRequest(f"Invalid input for query parameters limit. Value: {raw}. "
                         f"{raw} is less than the minimum of 0")
    return min(value, MAX_LIMIT)


def next_link(request: Request, collection: str, items: list[dict], limit: int,
              key: str = "id") -> list[dict]:
    """``<collection>_links`` with a ``next`` link when the page is full, else []."""
    if not items or len(items) < limit:
        return []
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    params.append(("marker", items[-1][key]))
    return [{"rel": "next", "href": f"{prefix(request)}/{collection}?{urlencode(params)}"}]


def ok(body: dict | None = None, status: int = 200) -> Response:
    """A JSON response (or an empty one when ``body`` is None)."""
    if body is None:
        return Response(status_code=status)
    return JSONResponse(body, status_code=status)
