"""Version discovery (Identity API v3: "Versions"; API v2.0: "Show version details").

``GET /`` answers 300 Multiple Choices with ``{"versions": {"values": [v3]}}``,
``GET /v3`` 200 with ``{"version": v3}``, ``GET /v2.0`` 200 with the
deprecated v2.0 entry; hrefs follow the Host the client used.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.identity.api.common import base, json

V3_ID = "v3.14"
V3_UPDATED = "2020-04-07T00:00:00Z"
V2_UPDATED = "2016-08-04T00:00:00Z"


def v3_entry(root: str) -> dict:
    return {"id": V3_ID, "status": "stable", "updated": V3_UPDATED,
            "links": [{"rel": "self", "href": f"{root}/v3/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}


def v2_entry(root: str) -> dict:
    return {"id": "v2.0", "status": "deprecated", "updated": V2_UPDATED,
            "links": [{"rel": "self", "href": f"{root}/v2.0/"},
                      {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v2.0+json"}]}


async def versions(request: Request):
    return json({"versions": {"values": [v3_entry(base(request))]}}, status=300)


async def v3(request: Request):
    return json({"version": v3_entry(base(request))})


async def v2(request: Request):
    return json({"version": v2_entry(base(request))})


routes = [
    Route("/", versions, methods=["GET"]),
    Route("/v3", v3, methods=["GET"]),
    Route("/v3/", v3, methods=["GET"]),
    Route("/v2.0", v2, methods=["GET"]),
    Route("/v2.0/", v2, methods=["GET"]),
]
