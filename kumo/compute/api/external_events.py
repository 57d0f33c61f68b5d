"""``POST /v2.1/os-server-external-events`` (Compute API reference "Create External Events
(os-server-external-events)"); what an event does is :mod:`kumo.compute.external_events`.

Body ``{"events": [{"name", "server_uuid", "status"?, "tag"?}]}`` (at least one; ``name``
one of :data:`~kumo.compute.external_events.NAMES`, ``status`` one of ``failed``,
``completed``, ``in-progress``, ``tag`` a string up to 255 characters) -> 200 when every
event was accepted, 207 when only some were, 404 when none; the body lists each event with
its ``code`` and ``status``. 400 for a bad body, 403 unless the caller is an admin or a
service (policy ``os_compute_api:os-server-external-events:create``).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest
from kumo.compute import external_events
from kumo.compute.api.common import authorize, ok
from kumo.compute.schemas import check_extra, invalid

POLICY = "os_compute_api:os-server-external-events:create"


def _events(body) -> list[dict]:
    if not isinstance(body, dict) or "events" not in body:
        raise BadRequest("Invalid input for field/attribute events. 'events' is a required property")
    check_extra(body, {"events"})
    events = body["events"]
    if not isinstance(events, list) or not events:
        raise invalid("events", events, "is not a non-empty array")
    for event in events:
        if not isinstance(event, dict):
            raise invalid("events", event, "is not of type 'object'")
        check_extra(event, {"name", "server_uuid", "status", "tag"})
        for key in ("name", "server_uuid"):
            if not isinstance(event.get(key), str):
                raise invalid(key, event.get(key), f"'{key}' is a required string")
        if event["name"] not in external_events.NAMES:
            raise invalid("name", event["name"], f"is not one of {list(external_events.NAMES)}")
        if "status" in event and event["status"] not in external_events.STATUSES:
            raise invalid("status", event["status"], f"is not one of {list(external_events.STATUSES)}")
        if "tag" in event and (not isinstance(event["tag"], str) or len(event["tag"]) > 255):
            raise invalid("tag", event["tag"], "is not a string of at most 255 characters")
    return events


async def create_events(request: Request):
    """POST /os-server-external-events -> 200/207/404 {"events": [event + code]} (see module doc)."""
    ctx = authorize(request, POLICY)
    events = _events(await json_body(request))
    answers = await external_events.deliver(request.app.state.compute, ctx, events)
    codes = {a["code"] for a in answers}
    status = 200 if codes == {200} else 207 if 200 in codes else 404
    return ok({"events": answers}, status)


def routes() -> list[Route]:
    """The external events route (under /v2.1)."""
    return [Route("/v2.1/os-server-external-events", create_events, methods=["POST"])]
