"""Talking to the identity API from another service.

:class:`ServiceAuth` keeps a project-scoped token of the service user (the
``[service_user]`` settings) and the catalog that came with it;
:class:`RemoteTokenValidator` checks callers' tokens with
``GET /v3/auth/tokens`` (Identity API v3, "Validate and show information for
token") and caches the answers for a few seconds.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx

from kumo.common.api.errors import ServiceUnavailable, Unauthorized


def _expiry(body: dict) -> float:
    stamp = body["token"].get("expires_at", "")
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time() + 60


class ServiceAuth:
    """A service user's token and catalog, refreshed before it expires.

    ``identity_url`` is the identity API root (``http://host:5000``).
    Raises :class:`ServiceUnavailable` when identity cannot be reached and
    :class:`Unauthorized` when the service credentials are refused.
    """

    def __init__(self, identity_url: str, username: str, password: str,
                 project_name: str = "service", domain_id: str = "default",
                 interface: str = "internal"):
        self.identity_url = identity_url.rstrip("/")
        self.username, self.password = username, password
        self.project_name, self.domain_id = project_name, domain_id
        self.interface = interface
        self._token = ""
        self._body: dict = {}
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.http = httpx.AsyncClient(timeout=30)

    async def token(self) -> str:
        async with self._lock:
            if time.time() > self._expires - 120:
                await self._authenticate()
            return self._token

    async def _authenticate(self) -> None:
        req = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.username, "domain": {"id": self.domain_id}, "password": self.password}}},
            "scope": {"project": {"name": self.project_name, "domain": {"id": self.domain_id}}}}}
        try:
            r = await self.http.post(f"{self.identity_url}/v3/auth/tokens", json=req)
        except httpx.HTTPError as e:
            raise ServiceUnavailable(f"identity service unreachable: {e}") from e
        if r.status_code != 201:
            raise Unauthorized(f"service user {self.username!r} refused by identity ({r.status_code})")
        self._token = r.headers["X-Subject-Token"]
        self._body = r.json()
        self._expires = _expiry(self._body)

    async def endpoint(self, service_type: str) -> str:
        """URL of ``service_type`` from the catalog (the configured interface)."""
        await self.token()
        for svc in self._body["token"].get("catalog", []):
            if svc["type"] == service_type:
                for ep in svc["endpoints"]:
                    if ep["interface"] == self.interface:
                        return ep["url"].rstrip("/")
        raise ServiceUnavailable(f"no {service_type} endpoint in the catalog")

    async def request(self, service_type: str, method: str, path: str, **kwargs) -> httpx.Response:
        """Call another service's API as the service user; returns the response."""
        base = await self.endpoint(service_type)
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["X-Auth-Token"] = await self.token()
        try:
            return await self.http.request(method, base + path, headers=headers, **kwargs)
        except httpx.HTTPError as e:
            raise ServiceUnavailable(f"{service_type} service unreachable: {e}") from e

    async def close(self) -> None:
        await self.http.aclose()


class RemoteTokenValidator:
    """Validates tokens against the identity API, with a short cache."""

    def __init__(self, service_auth: ServiceAuth, cache_seconds: int = 30):
        self.auth = service_auth
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict]] = {}

    async def validate(self, token: str) -> dict:
        """Return the ``{"token": {...}}`` body of a valid token; raise Unauthorized otherwise."""
        now = time.time()
        hit = self._cache.get(token)
        if hit and hit[0] > now:
            return hit[1]
        headers = {"X-Auth-Token": await self.auth.token(), "X-Subject-Token": token}
        try:
            r = await self.auth.http.get(f"{self.auth.identity_url}/v3/auth/tokens", headers=headers)
        except httpx.HTTPError as e:
            raise ServiceUnavailable(f"identity service unreachable: {e}") from e
        if r.status_code != 200:
            self._cache.pop(token, None)
            raise Unauthorized("The request you have made requires authentication.")
        body = r.json()
        if len(self._cache) > 10000:
            self._cache.clear()
        self._cache[token] = (min(now + self.cache_seconds, _expiry(body)), body)
        return body
