"""Instance actions (Compute API reference "Servers actions (servers, os-instance-actions)").

``GET /v2.1/servers/{server_id}/os-instance-actions`` and
``GET /v2.1/servers/{server_id}/os-instance-actions/{request_id}``. Per
microversion: 2.21 a deleted server's actions are listed; 2.51 events are shown
to everyone (before: only with ``os-instance-actions:events``, admins);
2.58 ``updated_at``, paging (``limit``, ``marker`` = a request id) and
``changes-since``; 2.62 ``hostId`` of events (``host`` for admins); 2.66
``changes-before``; 2.84 ``details`` of events.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.errors import BadRequest, NotFound
from kumo.compute import instance_actions, objects
from kumo.compute.api.common import at_least, limit_param, next_link, ok, policy, server_target
from kumo.compute.api.views import host_id
from kumo.compute.policies import ACTIONS


async def _instance(request: Request, rule: str) -> tuple:
    """The URL's server (a deleted one from 2.21) if the caller sees it, after ``rule``."""
    ctx = context(request)
    uuid = request.path_params["server_id"]
    svc = request.app.state.compute
    async with svc.db.session() as s:
        inst = await instance_actions.find_instance(s, uuid, deleted=at_least(request, 2, 21))
    if inst is None or not svc.sees(ctx, inst.project_id):
        raise NotFound(f"Instance {uuid} could not be found.")
    policy(request).authorize(ctx, rule, server_target(inst))
    return ctx, inst


def _action_view(request: Request, action) -> dict:
    body = {"action": action.action, "instance_uuid": action.instance_uuid,
            "message": action.message, "project_id": action.project_id,
            "request_id": action.request_id, "start_time": objects.nova_time(action.start_time),
            "user_id": action.user_id}
    if at_least(request, 2, 58):
        body["updated_at"] = objects.nova_time(action.updated_at)
    return body


def _event_view(request: Request, event, inst, admin: bool, details: bool) -> dict:
    body = {"event": event.event, "start_time": objects.nova_time(event.start_time),
            "finish_time": objects.nova_time(event.finish_time), "result": event.result}
    if admin:
        body["traceback"] = event.traceback
    if at_least(request, 2, 62):
        body["hostId"] = host_id(inst.project_id, event.host)
        if admin:
            body["host"] = event.host or ""
    if at_least(request, 2, 84) and details:
        body["details"] = event.details
    return body


def _time_param(request: Request, name: str):
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return objects.parse_time(raw)
    except ValueError:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {raw}. "
                         f"'{raw}' is not a 'date-time'") from None


async def list_actions(request: Request):
    """GET /servers/{id}/os-instance-actions -> 200 {"instanceActions": [{"action", "instance_uuid",
    "message", "project_id", "request_id", "start_time", "user_id", "updated_at" (2.58)}], "links"
    (2.58, when the page is full)}, newest first; 2.58+ ``limit``, ``marker``, ``changes-since``,
    2.66+ ``changes-before``; 400 bad paging values or unknown marker, 404 unknown server."""
    ctx, inst = await _instance(request, ACTIONS + "list")
    paged = at_least(request, 2, 58)
    kwargs = {}
    if paged:
        kwargs = {"limit": limit_param(request), "marker": request.query_params.get("marker") or None,
                  "changes_since": _time_param(request, "changes-since")}
        if at_least(request, 2, 66):
            kwargs["changes_before"] = _time_param(request, "changes-before")
        since, before = kwargs["changes_since"], kwargs.get("changes_before")
        if since and before and since > before:
            raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
    async with request.app.state.db.session() as s:
        try:
            rows = await instance_actions.list_actions(s, inst.uuid, **kwargs)
        except LookupError:
            raise BadRequest(f"Marker {kwargs['marker']} could not be found.") from None
    body = {"instanceActions": [_action_view(request, a) for a in rows]}
    if paged:
        more = next_link(request, f"servers/{inst.uuid}/os-instance-actions", body["instanceActions"],
                         kwargs["limit"], key="request_id")
        if more:
            body["links"] = more
    return ok(body)


async def show_action(request: Request):
    """GET /servers/{id}/os-instance-actions/{request_id} -> 200 {"instanceAction": action +
    "events": [{"event", "start_time", "finish_time", "result", "traceback" (admin), "hostId"
    (2.62), "host" (2.62, admin), "details" (2.84)}]}; 404 unknown server or request id."""
    ctx, inst = await _instance(request, ACTIONS + "show")
    request_id = request.path_params["request_id"]
    async with request.app.state.db.session() as s:
        found = await instance_actions.get_action(s, inst.uuid, request_id)
    if found is None:
        raise NotFound(f"Action {request_id} not found")
    action, events = found
    rules, target = policy(request), server_target(inst)
    admin = rules.check(ctx, ACTIONS + "events", target)
    body = _action_view(request, action)
    if at_least(request, 2, 51) or admin:
        details = rules.check(ctx, ACTIONS + "events:details", target)
        body["events"] = [_event_view(request, e, inst, admin, details) for e in events]
    return ok({"instanceAction": body})


def routes() -> list[Route]:
    """The os-instance-actions routes (under /v2.1)."""
    p = "/v2.1/servers/{server_id}/os-instance-actions"
    return [Route(p, list_actions, methods=["GET"]),
            Route(p + "/{request_id}", show_action, methods=["GET"])]
