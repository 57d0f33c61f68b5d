"""OAuth1 consumers (Identity API v3 extension OS-OAUTH1: "Consumers").

``GET/POST /v3/OS-OAUTH1/consumers``, ``GET/PATCH/DELETE
/v3/OS-OAUTH1/consumers/{consumer_id}``. A consumer is ``{id, description,
links}``; the create response (201) also carries its ``secret``. Admin
only. 400 for an update that tries to change the secret, 404 for unknown ids.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.identity import models as m
from kumo.identity import resource_schemas as rs
from kumo.identity.api.common import base, body, enforce, json, no_content
from kumo.identity.oauth1 import ConsumerService

PATH = "/v3/OS-OAUTH1/consumers"


def _svc(request: Request) -> ConsumerService:
    return request.app.state.consumers


def consumer_view(c: m.Consumer, root: str) -> dict:
    return {"id": c.id, "description": c.description, "links": {"self": f"{root}{PATH}/{c.id}"}}


async def list_consumers(request: Request):
    enforce(request, "identity:list_consumers")
    root = base(request)
    found = await _svc(request).list_consumers()
    return json({"consumers": [consumer_view(c, root) for c in found],
                 "links": {"self": f"{root}{PATH}", "previous": None, "next": None}})


async def create_consumer(request: Request):
    enforce(request, "identity:create_consumer")
    data = await body(request, "consumer", rs.ConsumerCreate)
    c, secret = await _svc(request).create_consumer(data)
    return json({"consumer": {**consumer_view(c, base(request)), "secret": secret}}, status=201)


async def show_consumer(request: Request):
    enforce(request, "identity:get_consumer")
    c = await _svc(request).get_consumer(request.path_params["consumer_id"])
    return json({"consumer": consumer_view(c, base(request))})


async def update_consumer(request: Request):
    enforce(request, "identity:update_consumer")
    data = await body(request, "consumer", rs.ConsumerUpdate)
    c = await _svc(request).update_consumer(request.path_params["consumer_id"], data)
    return json({"consumer": consumer_view(c, base(request))})


async def delete_consumer(request: Request):
    enforce(request, "identity:delete_consumer")
    await _svc(request).delete_consumer(request.path_params["consumer_id"])
    return no_content()


routes = [
    Route(PATH, list_consumers, methods=["GET"]),
    Route(PATH, create_consumer, methods=["POST"]),
    Route(PATH + "/{consumer_id}", show_consumer, methods=["GET"]),
    Route(PATH + "/{consumer_id}", update_consumer, methods=["PATCH"]),
    Route(PATH + "/{consumer_id}", delete_consumer, methods=["DELETE"]),
]
