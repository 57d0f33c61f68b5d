"""In-process test doubles: tokens without identity, HTTP routed to ASGI apps.

Used by unit and API tests only; integration and e2e tests use the real
services.
"""
from __future__ import annotations

import httpx

from kumo.common.api.errors import Unauthorized
from kumo.common.auth.client import ServiceAuth

PROJECTS = {"admin": "a0000000000000000000000000000001", "demo": "d0000000000000000000000000000002",
            "alt": "e0000000000000000000000000000003", "service": "50000000000000000000000000000004"}

#: token -> (user name, project name, role names)
TOKENS = {
    "admin-token": ("admin", "admin", ["admin", "member", "reader"]),
    "demo-token": ("demo", "demo", ["member", "reader"]),
    "alt-token": ("alt", "alt", ["member", "reader"]),
    "reader-token": ("reader", "demo", ["reader"]),
    "service-token": ("kumo", "service", ["admin", "member", "reader", "service"]),
}

# Service types -> settings section names.
SERVICE_TYPES = {"identity": "identity", "image": "image", "compute": "compute",
                 "network": "network", "metadata": "metadata"}


def user_id(name: str) -> str:
    return f"u-{name}"


def token_body(token: str) -> dict:
    user, project, roles = TOKENS[token]
    return {"token": {
        "methods": ["password"],
        "user": {"id": user_id(user), "name": user, "domain": {"id": "default", "name": "Default"}},
        "project": {"id": PROJECTS[project], "name": project, "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": f"r-{r}", "name": r} for r in roles],
        "expires_at": "2099-01-01T00:00:00.000000Z",
        "issued_at": "2026-01-01T00:00:00.000000Z",
        "catalog": [],
    }}


class FakeValidator:
    async def validate(self, token: str) -> dict:
        if token not in TOKENS:
            raise Unauthorized("The request you have made requires authentication.")
        return token_body(token)


class AppRouter(httpx.AsyncBaseTransport):
    """Dispatches requests by ``host:port`` to registered ASGI apps."""

    def __init__(self):
        self.apps: dict[str, httpx.ASGITransport] = {}

    def add(self, base_url: str, app) -> None:
        self.apps[httpx.URL(base_url).netloc.decode()] = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.apps.get(request.url.netloc.decode())
        if transport is None:
            raise httpx.ConnectError(f"no in-process app at {request.url.netloc.decode()}")
        return await transport.handle_async_request(request)


class FakeServiceAuth(ServiceAuth):
    """The service user without identity: a fixed token, endpoints from settings."""

    def __init__(self, settings, http: httpx.AsyncClient):
        super().__init__(settings.endpoint("identity"), "kumo", "x")
        self.settings = settings
        self.http = http

    async def token(self) -> str:
        return "service-token"

    async def endpoint(self, service_type: str) -> str:
        base = self.settings.endpoint(SERVICE_TYPES[service_type])
        return base + {"compute": "/v2.1", "network": ""}.get(service_type, "")
