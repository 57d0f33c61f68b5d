"""Compute API microversions and URL forms (Compute API reference, "API Versions";
nova's ``api_version_request``).

:class:`ComputeRequestMiddleware` runs after token validation and before the
routes. For every ``/v2.1`` request it

- reads ``OpenStack-API-Version: compute X.Y`` (or the older
  ``X-OpenStack-Nova-API-Version: X.Y``); none means 2.1, ``latest`` means
  :data:`MAX_VERSION`; a malformed value is a 400, one out of
  [:data:`MIN_VERSION`, :data:`MAX_VERSION`] a 406 (``computeFault`` body, as nova);
- strips a ``/{project_id}`` after the version (``/v2.1/{project_id}/servers``),
  which must be the token's project (else 400);
- puts the version in ``request.state.api_version`` (a ``(major, minor)``
  tuple) and the URL project in ``request.state.url_project_id`` ("" if none);
- echoes the version in ``OpenStack-API-Version``,
  ``X-OpenStack-Nova-API-Version`` and ``Vary`` on the response.

``/v2`` (the legacy v2.0 API) is served by the same routes at version 2.1,
without microversion headers.
"""
from __future__ import annotations

import json
import re

MIN_VERSION = (2, 1)
#: Highest microversion whose response shapes kumo produces.
MAX_VERSION = (2, 79)

_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
_PROJECT_RE = re.compile(r"^([0-9a-fA-F]{32}|[0-9a-fA-F-]{36})$")

#: First path segments after /v2.1 that are collections, never a project id.
COLLECTIONS = {"servers", "flavors", "os-keypairs", "os-services", "os-hypervisors",
               "os-availability-zone", "limits", "os-quota-sets", "extensions", "images",
               "os-simple-tenant-usage", "os-server-groups", "os-aggregates"}


def fmt(version: tuple[int, int]) -> str:
    """"2.79" from (2, 79)."""
    return f"{version[0]}.{version[1]}"


class VersionError(Exception):
    """A bad version header: ``status`` 400 (malformed) or 406 (unsupported)."""
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse_version(headers: dict[str, str]) -> tuple[int, int]:
    """The requested microversion from request headers (lowercase names).

    Raises :class:`VersionError` (400 malformed, 406 unsupported).
    """
    raw = None
    header = headers.get("openstack-api-version")
    if header:
        for item in header.split(","):
            parts = item.strip().split(None, 1)
            if len(parts) == 2 and parts[0].lower() == "compute":
                raw = parts[1].strip()
    if raw is None:
        raw = headers.get("x-openstack-nova-api-version")
    if raw is None or raw == "":
        return MIN_VERSION
    if raw.lower() == "latest":
        return MAX_VERSION
    m = _VERSION_RE.match(raw)
    if not m:
        raise VersionError(400, f"API Version String {raw} is of invalid format. Must be of "
                                "format MajorNum.MinorNum.")
    version = (int(m.group(1)), int(m.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionError(406, f"Version {raw} is not supported by the API. Minimum is "
                                f"{fmt(MIN_VERSION)} and maximum is {fmt(MAX_VERSION)}.")
    return version


class ComputeRequestMiddleware:
    """Pure ASGI middleware: microversion negotiation and project-id URLs (see module doc)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        legacy = path == "/v2" or path.startswith("/v2/")
        if legacy:
            path = "/v2.1" + path[3:]
        if not (path == "/v2.1" or path.startswith("/v2.1/")):
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        version = MIN_VERSION
        extra: list[tuple[bytes, bytes]] = []
        if not legacy:
            try:
                version = parse_version(headers)
            except VersionError as e:
                return await _error(send, e.status, e.message)
            extra = [(b"openstack-api-version", f"compute {fmt(version)}".encode()),
                     (b"x-openstack-nova-api-version", fmt(version).encode()),
                     (b"vary", b"OpenStack-API-Version, X-OpenStack-Nova-API-Version")]
        project = ""
        segments = path.split("/")  # ["", "v2.1", first, ...]
        ctx = state.get("context")
        if len(segments) > 2 and segments[2] and segments[2] not in COLLECTIONS and (
                _PROJECT_RE.match(segments[2]) or (ctx is not None and segments[2] == ctx.project_id)):
            project = segments[2]
            if ctx is not None and ctx.project_id != project:
                return await _error(send, 400, f"Malformed request URL: URL's project_id '{project}' "
                                               f"doesn't match Context's project_id '{ctx.project_id}'",
                                    extra)
            path = "/".join(segments[:2] + segments[3:])
        state["api_version"] = version
        state["url_project_id"] = project
        state["legacy_v2"] = legacy
        scope = dict(scope, path=path, raw_path=path.encode())

        async def send_with_version(message):
            if message["type"] == "http.response.start" and extra:
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        return await self.app(scope, receive, send_with_version)


async def _error(send, status: int, message: str, extra=()) -> None:
    """Send a nova error body (406 is nova's ``computeFault``, as its wsgi layer renders it)."""
    name = {400: "badRequest", 406: "computeFault"}.get(status, "computeFault")
    body = json.dumps({name: {"code": status, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})
