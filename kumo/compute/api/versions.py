"""Version discovery (Compute API reference, "API Versions": ``GET /``, ``GET /v2.1``).

Both documents are public. ``GET /`` lists v2.0 (SUPPORTED, no
microversions) and v2.1 (CURRENT, microversions 2.1 to
:data:`~kumo.compute.api.microversion.MAX_VERSION`).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kumo.common.api.versions import base_url
from kumo.compute.api.microversion import MAX_VERSION, MIN_VERSION, fmt

_V20 = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
        "updated": "2011-01-21T11:33:21Z"}
_V21 = {"id": "v2.1", "status": "CURRENT", "version": fmt(MAX_VERSION),
        "min_version": fmt(MIN_VERSION), "updated": "2013-07-23T11:33:21Z"}


def _media(version_id: str) -> list[dict]:
    return [{"base": "application/json",
             "type": f"application/vnd.openstack.compute+json;version={version_id[1:]}"}]


def _doc(request: Request, base: dict, path: str, detail: bool) -> dict:
    doc = dict(base, links=[{"rel": "self", "href": f"{base_url(request)}/{path}/"}])
    if detail:
        doc["links"].append({"rel": "describedby", "type": "text/html",
                             "href": "http://docs.openstack.org/"})
        doc["media-types"] = _media(base["id"])
    return doc


async def root(request: Request):
    """GET / -> 200 {"versions": [v2.0, v2.1]}."""
    return JSONResponse({"versions": [_doc(request, _V20, "v2", False),
                                      _doc(request, _V21, "v2.1", False)]})


async def v21(request: Request):
    """GET /v2.1 and /v2.1/ -> 200 {"version": {"id", "status", "version", "min_version", "updated",
    "links", "media-types"}}.
    """
    if getattr(request.state, "legacy_v2", False):
        return JSONResponse({"version": _doc(request, _V20, "v2", True)})
    return JSONResponse({"version": _doc(request, _V21, "v2.1", True)})


def is_public(method: str, path: str) -> bool:
    """Version documents need no token (before the /v2 -> /v2.1 rewrite)."""
    return method in ("GET", "HEAD") and path.rstrip("/") in ("", "/v2", "/v2.1")


def routes() -> list[Route]:
    """The version discovery routes."""
    return [Route("/", root, methods=["GET"]),
            Route("/v2.1", v21, methods=["GET"]),
            Route("/v2.1/", v21, methods=["GET"])]
