"""Version discovery, schemas and discovery info of the Image API.

- ``GET /`` -> 300 and ``GET /versions`` -> 200, body ``{"versions": [{"id": "v2.17",
  "status": "CURRENT", "links": [{"rel": "self", "href": "http://host:9292/v2/"}]}, ...]}``
  (Image API v2 "Versions"); no token needed.
- ``GET /v2/schemas/{image,images,member,members,task,tasks}`` -> 200, JSON schema
  documents (Image API v2 "Schemas").

The ``/v2/info/*`` documents are served by :mod:`kumo.image.api.imports`.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kumo.common.api.versions import base_url, link
from kumo.image import schemas

#: Minor versions of the v2 API, newest first; the newest is CURRENT.
MINOR_VERSIONS = tuple(range(17, -1, -1))


def versions_body(request: Request) -> dict:
    href = f"{base_url(request)}/v2/"
    return {"versions": [
        {"id": f"v2.{minor}", "status": "CURRENT" if i == 0 else "SUPPORTED", "links": [link(href)]}
        for i, minor in enumerate(MINOR_VERSIONS)]}


async def root(request: Request) -> JSONResponse:
    """``GET /``: 300 Multiple Choices with the versions document."""
    return JSONResponse(versions_body(request), status_code=300)


async def versions(request: Request) -> JSONResponse:
    """``GET /versions``: 200 with the versions document."""
    return JSONResponse(versions_body(request))


_SCHEMAS = {"image": schemas.image_schema, "images": schemas.images_schema,
            "member": schemas.member_schema, "members": schemas.members_schema,
            "task": schemas.task_schema, "tasks": schemas.tasks_schema}


def _schema_route(name: str) -> Route:
    async def show(request: Request) -> JSONResponse:
        return JSONResponse(_SCHEMAS[name]())
    return Route(f"/v2/schemas/{name}", show, methods=["GET"])


def is_public(method: str, path: str) -> bool:
    """Version discovery needs no token."""
    return method in ("GET", "HEAD") and path in ("/", "/versions")


routes = [
    Route("/", root, methods=["GET"]),
    Route("/versions", versions, methods=["GET"]),
    *(_schema_route(name) for name in _SCHEMAS),
]
