"""OAuth1 consumers (Identity API v3 extension OS-OAUTH1: "Consumers").

``GET/POST /v3/OS-OAUTH1/consumers``, ``GET/PATCH/DELETE
/v3/OS-OAUTH1/consumers/{consumer_id}``. A consumer is ``{id, description,
links}``; the create response (201) also carries its ``secret``. Admin
only. 400 for an update that tries to change the secret, 404 for unknown ids.
"""
from __future__ import annotations

from starlette.requests import Request

from kumo.identity import models as m
from kumo.identity import resource_schemas as rs
from kumo.identity.api import crud
from kumo.identity.api.common import body, enforce

PATH = "/v3/OS-OAUTH1/consumers"


def consumer_view(c: m.Consumer, root: str) -> dict:
    return {"id": c.id, "description": c.description, "links": {"self": f"{root}{PATH}/{c.id}"}}


def _svc(request: Request):
    return request.app.state.consumers


async def create_consumer(request: Request):
    """The create response also carries the consumer's ``secret``."""
    enforce(request, "identity:create_consumer")
    data = await body(request, "consumer", rs.ConsumerCreate)
    c, secret = await _svc(request).create_consumer(data)
    return crud.shown(request, "consumer", c, lambda row, root: {**consumer_view(row, root), "secret": secret}, 201)


routes = crud.standard(PATH, "consumer_id", singular="consumer", plural="consumers", service=_svc,
                       view=consumer_view, create_schema=rs.ConsumerCreate, update_schema=rs.ConsumerUpdate,
                       noun="consumer", nouns="consumers", create=create_consumer)
