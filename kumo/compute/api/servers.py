"""Servers (Compute API reference: "Servers", "Servers - run an action"
(os-getConsoleOutput, os-stop, os-start, reboot), "Servers IPs", "Server metadata").

Routes under ``/v2.1``: ``GET/POST /servers``, ``GET /servers/detail``,
``GET/PUT/DELETE /servers/{id}``, ``POST /servers/{id}/action``,
``GET /servers/{id}/ips[/{network}]``, ``/servers/{id}/metadata[/{key}]``
and ``GET /servers/{id}/os-volume_attachments`` (always empty for now).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest, NotFound
from kumo.compute import objects
from kumo.compute.api import consoles, floating_ips, interfaces, lifecycle, security_groups
from kumo.compute.api import server_extras, server_tags
from kumo.compute.api.common import (at_least, authorize, authorized_server, limit_param, links,
                                     next_link, ok, policy, server_target, version)
from kumo.compute.api.views import addresses, plain_addresses, server_basic, server_detail
from kumo.compute.schemas import (check_extra, disk_config_value, invalid, ip_value, metadata_value,
                                  name_value, parse_server_create, ref_id, single_item)
from kumo.compute.service import ComputeService, ServerQuery, default_admin_pass
from kumo.compute.server_groups import groups_of, parse_hints

#: API sort keys -> instance attributes (nova's valid server sort keys kumo stores).
_SORT_KEYS = {"created_at": "created_at", "updated_at": "updated_at", "display_name": "display_name",
              "hostname": "hostname", "uuid": "uuid", "vm_state": "vm_state",
              "task_state": "task_state", "power_state": "power_state", "launched_at": "launched_at",
              "terminated_at": "terminated_at", "key_name": "key_name", "image_ref": "image_ref",
              "project_id": "project_id", "user_id": "user_id", "launch_index": "launch_index",
              "availability_zone": "availability_zone", "progress": "progress",
              "display_description": "display_description", "config_drive": "config_drive",
              "host": "host", "node": "node"}
_ADMIN_SORT_KEYS = {"host", "node"}


def _svc(request: Request) -> ComputeService:
    return request.app.state.compute


def _truthy(value: str) -> bool:
    return value.lower() not in ("0", "false", "no", "off", "f", "n")


def _query(request: Request, detail: bool) -> ServerQuery:
    """The list filters, after the policy checks of ``servers:index``/``detail`` (and
    ``:get_all_tenants`` for all_tenants, ``servers:allow_all_filters`` for host, node, key_name
    and the host/node sort keys)."""
    rule = f"os_compute_api:servers:{'detail' if detail else 'index'}"
    ctx = authorize(request, rule)
    q = request.query_params
    query = ServerQuery(project_id=ctx.project_id, limit=limit_param(request),
                        marker=q.get("marker") or None)
    if "all_tenants" in q and _truthy(q["all_tenants"]):
        authorize(request, rule + ":get_all_tenants")
        query.project_id = q.get("project_id") or q.get("tenant_id") or None
    all_filters = policy(request).check(ctx, "os_compute_api:servers:allow_all_filters")
    query.name = q.get("name") or None
    statuses = q.getlist("status")
    if statuses:
        pairs = []
        for status in statuses:
            pairs += objects.states_for_status(status) or []
        query.statuses, query.status_unknown = pairs, not pairs
    for key, attr in (("image", "image"), ("flavor", "flavor")):
        if q.get(key):
            setattr(query, attr, ref_id(q[key]))
    query.ip = q.get("ip") or None
    query.reservation_id = q.get("reservation_id") or None
    if all_filters:
        query.host = q.get("host") or None
        query.node = q.get("node") or None
        query.key_name = q.get("key_name") or None
    if q.get("changes-since"):
        try:
            query.changes_since = objects.parse_time(q["changes-since"])
        except ValueError:
            raise BadRequest(f"Invalid input for query parameters changes-since. Value: "
                             f"{q['changes-since']}. '{q['changes-since']}' is not a 'date-time'") from None
    keys, dirs = q.getlist("sort_key"), q.getlist("sort_dir")
    if keys:
        sort = []
        for n, key in enumerate(keys):
            if key not in _SORT_KEYS or (key in _ADMIN_SORT_KEYS and not all_filters):
                raise BadRequest(f"Invalid input for query parameters sort_key. Value: {key}.")
            direction = dirs[n] if n < len(dirs) else "desc"
            if direction not in ("asc", "desc"):
                raise BadRequest(f"Invalid input for query parameters sort_dir. Value: {direction}.")
            sort.append((_SORT_KEYS[key], direction))
        query.sort = sort
    query.sort = query.sort + [("id", query.sort[-1][1])]
    if (tag_match := server_tags.list_filter(request)) is not None:
        query.predicates.append(tag_match)
    return query


async def _details(request: Request, ctx, instances, show: bool = False, extended: bool = True) -> list[dict]:
    """Full server bodies; admin-only fields per the policy (``os-extended-server-attributes``,
    ``servers:show:host_status``) on each server."""
    svc, rules = _svc(request), policy(request)
    faults = await svc.faults([i.uuid for i in instances if i.vm_state in ("error", "deleted")])
    statuses = None
    groups = {}
    if show and at_least(request, 2, 71):
        async with request.app.state.db.session() as s:
            groups = await groups_of(s, [i.uuid for i in instances])
    out = []
    for inst in instances:
        target = server_target(inst)
        host_status = None
        if at_least(request, 2, 16) and rules.check(ctx, "os_compute_api:servers:show:host_status", target):
            statuses = await svc.host_statuses() if statuses is None else statuses
            host_status = statuses.get(inst.host, "UNKNOWN") if inst.host else ""
        admin = rules.check(ctx, "os_compute_api:os-extended-server-attributes", target)
        out.append(server_detail(request, inst, is_admin=admin, fault=faults.get(inst.uuid),
                                 host_status=host_status, extended=extended, show_groups=show,
                                 groups=groups.get(inst.uuid)))
    return out


async def _server(request: Request, action: str):
    """The server of the URL if the caller sees it (404 otherwise) and may do ``action`` on it (403)."""
    return await authorized_server(request, action)


async def list_servers(request: Request):
    """GET /servers -> 200 {"servers": [{"id", "name", "links"}], "servers_links"?}; filters name
    (regex), status, image, flavor, ip, reservation_id, changes-since, host/node (admin), all_tenants
    (admin, else 403); 400 bad marker/sort/date.
    """
    query = _query(request, detail=False)
    instances = await _svc(request).list_servers(query)
    body = {"servers": [server_basic(request, i) for i in instances]}
    more = next_link(request, "servers", body["servers"], query.limit)
    if more:
        body["servers_links"] = more
    return ok(body)


async def list_servers_detail(request: Request):
    """GET /servers/detail -> 200 {"servers": [full server]}; same filters as list_servers."""
    ctx = context(request)
    query = _query(request, detail=True)
    instances = await _svc(request).list_servers(query)
    body = {"servers": await _details(request, ctx, instances)}
    more = next_link(request, "servers/detail", body["servers"], query.limit)
    if more:
        body["servers_links"] = more
    return ok(body)


async def create_server(request: Request):
    """POST /servers -> 202 {"server": {"id", "links", "OS-DCF:diskConfig", "adminPass",
    "security_groups"?}} (or {"reservation_id"}); see ComputeService.create_servers for
    400/403/409/503.
    """
    data = await json_body(request, "server")
    req = parse_server_create(data, version(request))
    whole = await json_body(request)
    req.scheduler_hints = parse_hints(whole.get("os:scheduler_hints",
                                                whole.get("OS-SCH-HNT:scheduler_hints")))
    ctx = authorize(request, "os_compute_api:servers:create")
    instances = await _svc(request).create_servers(ctx, req)
    if req.return_reservation_id:
        return ok({"reservation_id": instances[0].reservation_id}, 202)
    first = instances[0]
    server = {"id": first.uuid, "links": links(request, "servers", first.uuid),
              "OS-DCF:diskConfig": "AUTO" if first.auto_disk_config else "MANUAL",
              "adminPass": req.admin_pass or default_admin_pass()}
    if first.security_groups:
        server["security_groups"] = [{"name": n} for n in first.security_groups]
    response = ok({"server": server}, 202)
    response.headers["Location"] = server["links"][0]["href"]
    return response


async def show_server(request: Request):
    """GET /servers/{id} -> 200 {"server": full server}; 404 unknown, deleted or another project's."""
    ctx, inst = await _server(request, "os_compute_api:servers:show")
    return ok({"server": (await _details(request, ctx, [inst], show=True))[0]})


async def update_server(request: Request):
    """PUT /servers/{id} {"server": {"name", "description" 2.19+, "accessIPv4", "accessIPv6"}} -> 200
    {"server": ...} (full body from 2.75); 400, 403, 404.
    """
    data = await json_body(request, "server")
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"} | (
        {"description"} if at_least(request, 2, 19) else set())
    check_extra(data, allowed)
    values = {}
    if "name" in data:
        values["display_name"] = name_value(data, "name")
    if "description" in data:
        desc = data["description"]
        if desc is not None and (not isinstance(desc, str) or len(desc) > 255):
            raise invalid("description", desc, "must be a string of at most 255 characters or null")
        values["display_description"] = desc
    for key, attr, family in (("accessIPv4", "access_ip_v4", 4), ("accessIPv6", "access_ip_v6", 6)):
        if key in data:
            values[attr] = ip_value(data, key, family)
    if (auto := disk_config_value(data)) is not None:
        values["auto_disk_config"] = auto
    ctx, _ = await _server(request, "os_compute_api:servers:update")
    inst = await _svc(request).update_server(ctx, request.path_params["server_id"], values)
    extended = at_least(request, 2, 75)
    return ok({"server": (await _details(request, ctx, [inst], show=True, extended=extended))[0]})


async def delete_server(request: Request):
    """DELETE /servers/{id} -> 204; 403 reader, 404."""
    ctx, inst = await _server(request, "os_compute_api:servers:delete")
    await server_extras.check_lock(request)
    await _svc(request).delete_server(ctx, inst.uuid)
    return ok(status=204)


def _reboot_type(args) -> str:
    """The ``type`` of a reboot body (nova's schema: SOFT or HARD in three spellings)."""
    if not isinstance(args, dict):
        raise invalid("reboot", args, f"{args!r} is not of type 'object'")
    check_extra(args, {"type"})
    if "type" not in args:
        raise invalid("reboot", args, "'type' is a required property")
    value = args["type"]
    if value not in ("HARD", "Hard", "hard", "SOFT", "Soft", "soft"):
        raise invalid("reboot/type", value, f"{value!r} is not one of ['HARD', 'Hard', 'hard', "
                                            "'SOFT', 'Soft', 'soft']")
    return value.upper()


#: actions on the server's ports, answered 202: name -> handler(request, args)
_NETWORK_ACTIONS = {**security_groups.ACTIONS, **floating_ips.ACTIONS, **interfaces.ACTIONS}

#: power actions -> (service action, policy rule)
_POWER = {"os-stop": ("stop", "os_compute_api:servers:stop"),
          "os-start": ("start", "os_compute_api:servers:start"),
          "reboot": ("reboot", "os_compute_api:servers:reboot")}


async def server_action(request: Request):
    """POST /servers/{id}/action with one action:

    - ``os-getConsoleOutput`` -> 200 {"output": str}, ``os-getVNCConsole`` (and the SPICE, RDP,
      serial ones) -> 200 {"console": {"type", "url"}} (api/consoles.py);
    - ``{"os-stop": null}`` -> 202 (vm_state active or error, task_state powering-off);
    - ``{"os-start": null}`` -> 202 (vm_state stopped, task_state powering-on);
    - ``{"reboot": {"type": "SOFT"|"HARD"}}`` -> 202 (SOFT from active, HARD also from stopped,
      paused, suspended or error; task_state rebooting / rebooting_hard);
    - ``addSecurityGroup`` / ``removeSecurityGroup`` (api/security_groups.py), ``addFloatingIp`` /
      ``removeFloatingIp`` (api/floating_ips.py), ``addFixedIp`` / ``removeFixedIp``
      (api/interfaces.py) -> 202;
    - pause, unpause, suspend, resume, rescue, unrescue, rebuild, resize, confirmResize,
      revertResize, createImage, createBackup, shelve, shelveOffload, unshelve, restore,
      forceDelete (api/lifecycle.py);

    400 other actions or a bad body, 403 reader, 404, 409 wrong vm_state/task_state or no host.
    """
    server_id = request.path_params["server_id"]
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body")
    action, args = next(iter(body.items()))
    svc = _svc(request)
    if action in server_extras.ACTIONS:
        await server_extras.ACTIONS[action](request, args)
        return ok(status=202)
    if action not in server_extras.LOCK_EXEMPT:
        await server_extras.check_lock(request)
    if action in _POWER:
        name, rule = _POWER[action]
        reboot_type = _reboot_type(args) if action == "reboot" else None
        ctx, _ = await _server(request, rule)
        await svc.power_action(ctx, server_id, name, reboot_type)
        return ok(status=202)
    if action in lifecycle.ACTIONS:
        return await lifecycle.ACTIONS[action](request, args)
    if action in _NETWORK_ACTIONS:
        await _NETWORK_ACTIONS[action](request, args)
        return ok(status=202)
    if action not in consoles.ACTIONS:
        raise BadRequest(f"There is no such action: {action}")
    return await consoles.ACTIONS[action](request, args)


_plain = plain_addresses


async def list_ips(request: Request):
    """GET /servers/{id}/ips -> 200 {"addresses": {network: [{"version", "addr"}]}}; 404."""
    _, inst = await _server(request, "os_compute_api:ips:index")
    return ok({"addresses": _plain(addresses(inst.network_info))})


async def show_ips(request: Request):
    """GET /servers/{id}/ips/{network} -> 200 {network: [{"version", "addr"}]}; 404 not on that network."""
    _, inst = await _server(request, "os_compute_api:ips:show")
    network = request.path_params["network"]
    addrs = _plain(addresses(inst.network_info))
    if network not in addrs:
        raise NotFound("Instance is not a member of specified network")
    return ok({network: addrs[network]})


async def list_volume_attachments(request: Request):
    """GET /servers/{id}/os-volume_attachments -> 200 {"volumeAttachments": []} (no volumes yet); 404."""
    await _server(request, "os_compute_api:os-volumes-attachments:index")
    return ok({"volumeAttachments": []})


async def get_metadata(request: Request):
    """GET /servers/{id}/metadata -> 200 {"metadata": {...}}; 404."""
    _, inst = await _server(request, "os_compute_api:server-metadata:index")
    return ok({"metadata": dict(inst.meta or {})})


async def _write_metadata(request: Request, replace: bool):
    body = await json_body(request, "metadata")
    items = metadata_value(body)
    ctx, _ = await _server(request, "os_compute_api:server-metadata:" + ("update_all" if replace else "create"))
    await server_extras.check_lock(request)
    meta = await _svc(request).set_metadata(ctx, request.path_params["server_id"], items, replace=replace)
    return ok({"metadata": items if replace else meta})


async def update_metadata(request: Request):
    """POST /servers/{id}/metadata {"metadata": {...}} -> 200 all items after the merge; 400, 403, 404,
    409.
    """
    return await _write_metadata(request, replace=False)


async def replace_metadata(request: Request):
    """PUT /servers/{id}/metadata {"metadata": {...}} -> 200 the new items; 400, 403, 404, 409."""
    return await _write_metadata(request, replace=True)


async def show_metadata_item(request: Request):
    """GET /servers/{id}/metadata/{key} -> 200 {"meta": {key: value}}; 404."""
    _, inst = await _server(request, "os_compute_api:server-metadata:show")
    key = request.path_params["key"]
    if key not in (inst.meta or {}):
        raise NotFound("Metadata item was not found")
    return ok({"meta": {key: inst.meta[key]}})


async def set_metadata_item(request: Request):
    """PUT /servers/{id}/metadata/{key} {"meta": {key: value}} -> 200 {"meta": ...}; 400 body/URI
    mismatch.
    """
    key = request.path_params["key"]
    items = metadata_value(single_item(await json_body(request, "meta"), key), "meta")
    ctx, _ = await _server(request, "os_compute_api:server-metadata:update")
    await server_extras.check_lock(request)
    await _svc(request).set_metadata(ctx, request.path_params["server_id"], items)
    return ok({"meta": items})


async def delete_metadata_item(request: Request):
    """DELETE /servers/{id}/metadata/{key} -> 204; 404 unknown key."""
    ctx, _ = await _server(request, "os_compute_api:server-metadata:delete")
    await server_extras.check_lock(request)
    await _svc(request).set_metadata(ctx, request.path_params["server_id"], {},
                                     remove=request.path_params["key"])
    return ok(status=204)


def routes() -> list[Route]:
    """The server routes (under /v2.1)."""
    p = "/v2.1/servers"
    return [
        Route(p, list_servers, methods=["GET"]),
        Route(p, create_server, methods=["POST"]),
        Route(p + "/detail", list_servers_detail, methods=["GET"]),
        Route(p + "/{server_id}", show_server, methods=["GET"]),
        Route(p + "/{server_id}", update_server, methods=["PUT"]),
        Route(p + "/{server_id}", delete_server, methods=["DELETE"]),
        Route(p + "/{server_id}/action", server_action, methods=["POST"]),
        Route(p + "/{server_id}/ips", list_ips, methods=["GET"]),
        Route(p + "/{server_id}/ips/{network}", show_ips, methods=["GET"]),
        Route(p + "/{server_id}/os-volume_attachments", list_volume_attachments, methods=["GET"]),
        Route(p + "/{server_id}/metadata", get_metadata, methods=["GET"]),
        Route(p + "/{server_id}/metadata", update_metadata, methods=["POST"]),
        Route(p + "/{server_id}/metadata", replace_metadata, methods=["PUT"]),
        Route(p + "/{server_id}/metadata/{key}", show_metadata_item, methods=["GET"]),
        Route(p + "/{server_id}/metadata/{key}", set_metadata_item, methods=["PUT"]),
        Route(p + "/{server_id}/metadata/{key}", delete_metadata_item, methods=["DELETE"]),
    ]
