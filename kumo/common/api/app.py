"""The ASGI app factory every kumo API is built with.

``create_app`` wires, in this order: a request id (``x-openstack-request-id``,
``req-<uuid>``), token validation (``X-Auth-Token`` -> a
:class:`~kumo.common.auth.context.RequestContext` in ``request.state.context``),
and the service's error format for every error, including unknown routes and
unexpected exceptions (logged, shown as a plain 500 without internals).
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute

from kumo.common.api.errors import ApiError, Unauthorized, render, render_exception
from kumo.common.auth import access_rules
from kumo.common.auth.context import RequestContext

log = logging.getLogger(__name__)


class TokenValidator(Protocol):
    async def validate(self, token: str) -> dict:  # pragma: no cover - protocol
        """Return the ``{"token": {...}}`` body for a valid token or raise Unauthorized."""


PublicPredicate = Callable[[str, str], bool]


def _never_public(method: str, path: str) -> bool:
    return False


class AuthMiddleware:
    """Pure ASGI middleware: request id plus token validation.

    Requests for which ``public(method, path)`` is true pass without a token
    (version discovery, token creation); all others need a valid
    ``X-Auth-Token`` or get 401 in the service's error format.
    """

    def __init__(self, app, *, style: str, validator: TokenValidator | None,
                 public: PublicPredicate = _never_public, request_id_headers: Sequence[str] = ()):
        self.app = app
        self.style = style
        self.validator = validator
        self.public = public
        self.request_id_headers = ("x-openstack-request-id", *request_id_headers)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = f"req-{uuid.uuid4()}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        extra = [(h.encode(), request_id.encode()) for h in self.request_id_headers]

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + extra
            await send(message)

        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        token = headers.get("x-auth-token", "")
        ctx = None
        if token and self.validator is not None:
            try:
                body = await self.validator.validate(token)
                if not access_rules.allowed(body, self.style, scope["method"], scope["path"]):
                    raise Unauthorized("The request you have made requires authentication.")
                ctx = RequestContext.from_token(body, token, request_id)
            except ApiError as e:
                if not self.public(scope["method"], scope["path"]):
                    return await render_exception(self.style, e)(scope, receive, send_with_id)
        if ctx is None and not self.public(scope["method"], scope["path"]):
            resp = render(self.style, 401, "The request you have made requires authentication.",
                          "Unauthorized", {"WWW-Authenticate": 'Keystone uri="identity"'})
            return await resp(scope, receive, send_with_id)
        state["context"] = ctx
        return await self.app(scope, receive, send_with_id)


def context(request: Request) -> RequestContext:
    """The caller's context (raises 401 if the route was public and no token came)."""
    ctx = getattr(request.state, "context", None)
    if ctx is None:
        from kumo.common.api.errors import Unauthorized
        raise Unauthorized("The request you have made requires authentication.")
    return ctx


def create_app(*, style: str, routes: Sequence[BaseRoute], validator: TokenValidator | None,
               public: PublicPredicate = _never_public, lifespan: Any = None,
               request_id_headers: Sequence[str] = (), state: dict | None = None) -> Starlette:
    """Build an API app.

    ``style`` picks the error format (see :mod:`kumo.common.api.errors`);
    ``state`` entries are set on ``app.state`` (services, settings, bus).
    """

    async def api_error(request: Request, exc: ApiError):
        return render_exception(style, exc)

    async def http_error(request: Request, exc: HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else ""
        if exc.status_code == 404:
            message = "The resource could not be found."
        return render(style, exc.status_code, message, headers=getattr(exc, "headers", None))

    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return render(style, 500, "An unexpected error prevented the server from fulfilling your request.")

    app = Starlette(routes=list(routes), lifespan=lifespan,
                    exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: unexpected})
    app.add_middleware(AuthMiddleware, style=style, validator=validator, public=public,
                       request_id_headers=request_id_headers)
    for key, value in (state or {}).items():
        setattr(app.state, key, value)
    return app
