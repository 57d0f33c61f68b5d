"""Security groups through the compute API (Compute API reference: "Security groups
(os-security-groups)", "Rules for security group (os-security-group-rules)", "Servers - run an
action" (addSecurityGroup, removeSecurityGroup), "Servers security groups").

The ``/os-security-groups`` and ``/os-security-group-rules`` proxies exist up to
microversion 2.35 (404 from 2.36, as nova). They translate to the Networking
API's ``/v2.0/security-groups`` and ``/v2.0/security-group-rules``, called with
the caller's token. Nova's shapes::

    group: {"id", "name", "description", "tenant_id", "rules": [rule]}
    rule:  {"id", "parent_group_id", "ip_protocol", "from_port", "to_port",
            "ip_range": {"cidr"} | {}, "group": {"name", "tenant_id"} | {}}

Only ingress rules are shown (nova's view of neutron groups).
"""
from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest, NotFound
from kumo.compute.api.common import authorize, ok, proxy_api, server_for
from kumo.compute.netproxy import NetworkProxy, project_of, q, uuid_like

SG = "os_compute_api:os-security-groups:"


def _proxy(request: Request) -> NetworkProxy:
    return request.app.state.compute.netproxy


# -- translation -------------------------------------------------------------------

def nova_rule(rule: dict, groups: dict[str, dict]) -> dict:
    """A neutron rule in nova's shape (tcp/udp without ports -> 1..65535, others -> -1)."""
    proto = rule.get("protocol")
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if proto and low is None:
        low, high = (1, 65535) if str(proto).lower() in ("tcp", "udp") else (-1, -1)
    out = {"id": rule["id"], "parent_group_id": rule.get("security_group_id"), "ip_protocol": proto,
           "from_port": low, "to_port": high, "group": {}, "ip_range": {}}
    remote = rule.get("remote_group_id")
    if remote:
        peer = groups.get(remote, {})
        out["group"] = {"name": peer.get("name", ""), "tenant_id": project_of(peer) or project_of(rule) or ""}
    else:
        prefix = rule.get("remote_ip_prefix")
        if not prefix:
            prefix = "::/0" if rule.get("ethertype") == "IPv6" else "0.0.0.0/0"
        out["ip_range"] = {"cidr": prefix}
    return out


def nova_group(group: dict, groups: dict[str, dict] | None = None) -> dict:
    """A neutron security group in nova's shape (ingress rules only)."""
    known = dict(groups or {})
    known.setdefault(group["id"], group)
    return {"id": group["id"], "name": group.get("name") or "", "description": group.get("description") or "",
            "tenant_id": project_of(group) or "",
            "rules": [nova_rule(r, known) for r in group.get("security_group_rules") or []
                      if r.get("direction", "ingress") == "ingress"]}


def _text(data: dict, key: str, allow_empty: bool) -> str:
    """nova's check of a group name/description: a string, at most 255 characters, not blank
    (descriptions may be empty)."""
    if key not in data:
        raise BadRequest(f"Security group {key} is not a string or unicode")
    value = data[key]
    if not isinstance(value, str):
        raise BadRequest(f"Security group {key} is not a string or unicode")
    if not allow_empty and not value.strip():
        raise BadRequest(f"Security group {key} cannot be empty.")
    if len(value) > 255:
        raise BadRequest(f"Security group {key} should not be greater than 255 characters.")
    return value


async def _group_body(request: Request) -> dict:
    body = await json_body(request, "security_group")
    if not isinstance(body, dict):
        raise BadRequest("Malformed request body")
    return {"name": _text(body, "name", False), "description": _text(body, "description", True)}


async def _all_groups(request: Request, ctx, ids: list[str] | None = None) -> dict[str, dict]:
    """Groups by id: the caller's project's (or ``ids``)."""
    params = {"id": ids} if ids is not None else {"project_id": ctx.project_id}
    if ids == []:
        return {}
    found = await _proxy(request).get(ctx, "/v2.0/security-groups", **params)
    return {g["id"]: g for g in found.get("security_groups", [])}


# -- /os-security-groups -------------------------------------------------------------

async def list_groups(request: Request):
    """GET /os-security-groups -> 200 {"security_groups": [group]} (the caller's project; an admin
    with ``all_tenants`` sees all); 404 from 2.36."""
    proxy_api(request)
    ctx = authorize(request, SG + "get")
    params = {}
    all_tenants = request.query_params.get("all_tenants", "0").lower() not in ("0", "false", "")
    if not (all_tenants and request.app.state.policy.is_admin(ctx)):
        params["project_id"] = ctx.project_id
    found = await _proxy(request).get(ctx, "/v2.0/security-groups", **params)
    groups = {g["id"]: g for g in found.get("security_groups", [])}
    return ok({"security_groups": [nova_group(g, groups) for g in groups.values()]})


async def _show(request: Request, ctx, group_id: str) -> dict:
    group = await _proxy(request).find(ctx, "security_group", "/v2.0/security-groups", group_id)
    if group is None:
        raise NotFound(f"Security group {group_id} not found.")
    return group


async def show_group(request: Request):
    """GET /os-security-groups/{id} -> 200 {"security_group": group}; 404."""
    proxy_api(request)
    ctx = authorize(request, SG + "show")
    group = await _show(request, ctx, request.path_params["group_id"])
    peers = await _all_groups(request, ctx)
    return ok({"security_group": nova_group(group, peers)})


async def create_group(request: Request):
    """POST /os-security-groups {"security_group": {"name", "description"}} -> 200
    {"security_group": group}; 400 blank/long name, long description; 403 quota."""
    proxy_api(request)
    values = await _group_body(request)
    ctx = authorize(request, SG + "create")
    group = (await _proxy(request).call(ctx, "POST", "/v2.0/security-groups",
                                        json={"security_group": values}))["security_group"]
    return ok({"security_group": nova_group(group)})


async def update_group(request: Request):
    """PUT /os-security-groups/{id} {"security_group": {"name", "description"}} -> 200; 400, 404."""
    proxy_api(request)
    values = await _group_body(request)
    ctx = authorize(request, SG + "update")
    group_id = request.path_params["group_id"]
    await _show(request, ctx, group_id)
    group = (await _proxy(request).call(ctx, "PUT", f"/v2.0/security-groups/{q(group_id)}",
                                        json={"security_group": values}))["security_group"]
    return ok({"security_group": nova_group(group)})


async def delete_group(request: Request):
    """DELETE /os-security-groups/{id} -> 202; 404; 400 the default group or a group in use."""
    proxy_api(request)
    ctx = authorize(request, SG + "delete")
    group_id = request.path_params["group_id"]
    await _show(request, ctx, group_id)
    await _proxy(request).call(ctx, "DELETE", f"/v2.0/security-groups/{q(group_id)}",
                               errors={409: BadRequest})
    return ok(status=202)


# -- /os-security-group-rules ------------------------------------------------------------

def _port(value, name: str) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"Invalid port range {name}: {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid port range {name}: {value!r}") from None


def neutron_rule(data: dict) -> dict:
    """A nova rule request -> the neutron rule body (without the group ids); 400 for a bad
    protocol, port range or CIDR (nova's checks: tcp/udp ports 1..65535, icmp type/code -1..255)."""
    proto = data.get("ip_protocol")
    rule: dict = {"direction": "ingress"}
    if proto is None or str(proto) == "":
        proto = None
    else:
        proto = str(proto).lower()
        if proto not in ("tcp", "udp", "icmp") and not (proto.isdigit() and 0 <= int(proto) <= 255):
            raise BadRequest(f"Invalid IP protocol {data.get('ip_protocol')}.")
        rule["protocol"] = proto
    low_raw, high_raw = data.get("from_port"), data.get("to_port")
    if proto in ("tcp", "udp", "icmp"):
        low, high = _port(low_raw, "from_port"), _port(high_raw, "to_port")
        if proto == "icmp":
            if not (-1 <= low <= 255) or not (-1 <= high <= 255):
                raise BadRequest(f"Invalid port range {low}:{high}. ICMP type and code must be "
                                 "between -1 and 255.")
            if low != -1:
                rule["port_range_min"] = low
                if high != -1:
                    rule["port_range_max"] = high
        else:
            if not (1 <= low <= 65535) or not (1 <= high <= 65535):
                raise BadRequest(f"Invalid port range {low}:{high}. Valid TCP ports should be "
                                 "between 1-65535")
            if low > high:
                raise BadRequest(f"Invalid port range {low}:{high}. Former value cannot be greater "
                                 "than the later")
            rule["port_range_min"], rule["port_range_max"] = low, high
    elif low_raw not in (None, -1, "-1") or high_raw not in (None, -1, "-1"):
        if proto is None:
            raise BadRequest("Invalid port range: ports need a protocol (tcp, udp or icmp).")
    cidr = data.get("cidr")
    if data.get("group_id"):
        rule["remote_group_id"] = str(data["group_id"])
    else:
        try:
            net = ipaddress.ip_network(cidr or "0.0.0.0/0", strict=False)
        except (TypeError, ValueError):
            raise BadRequest(f"Invalid cidr {cidr}.") from None
        rule["remote_ip_prefix"] = str(net)
        rule["ethertype"] = f"IPv{net.version}"
    return rule


async def create_rule(request: Request):
    """POST /os-security-group-rules {"security_group_rule": {"parent_group_id", "ip_protocol",
    "from_port", "to_port", "cidr" | "group_id"}} -> 200 {"security_group_rule": rule}; 400 bad
    id/protocol/ports/cidr or a duplicate; 404 unknown parent or peer group."""
    proxy_api(request)
    data = await json_body(request, "security_group_rule")
    if not isinstance(data, dict):
        raise BadRequest("Malformed request body")
    parent = data.get("parent_group_id")
    if not isinstance(parent, str) or not uuid_like(parent):
        raise BadRequest(f"Invalid parent_group_id {parent!r}: not a security group id")
    rule = neutron_rule(data)
    if rule.get("remote_group_id") and not uuid_like(rule["remote_group_id"]):
        raise BadRequest(f"Invalid group_id {rule['remote_group_id']!r}: not a security group id")
    ctx = authorize(request, SG + "rule:create")
    group = await _show(request, ctx, parent)
    peers = {group["id"]: group}
    if rule.get("remote_group_id"):
        peers[rule["remote_group_id"]] = await _show(request, ctx, rule["remote_group_id"])
    rule["security_group_id"] = parent
    created = (await _proxy(request).call(ctx, "POST", "/v2.0/security-group-rules",
                                          json={"security_group_rule": rule},
                                          errors={409: BadRequest}))["security_group_rule"]
    shown = nova_rule(created, peers)
    if shown["ip_range"] and data.get("cidr"):
        shown["ip_range"] = {"cidr": data["cidr"]}  # as requested (nova echoes the given CIDR)
    return ok({"security_group_rule": shown})


async def delete_rule(request: Request):
    """DELETE /os-security-group-rules/{id} -> 202; 404 unknown rule."""
    proxy_api(request)
    ctx = authorize(request, SG + "rule:delete")
    rule_id = request.path_params["rule_id"]
    rule = await _proxy(request).find(ctx, "security_group_rule", "/v2.0/security-group-rules", rule_id)
    if rule is None:
        raise NotFound(f"Rule ({rule_id}) not found")
    await _proxy(request).call(ctx, "DELETE", f"/v2.0/security-group-rules/{q(rule_id)}")
    return ok(status=202)


# -- a server's groups ------------------------------------------------------------------

async def server_groups(request: Request):
    """GET /servers/{id}/os-security-groups -> 200 {"security_groups": [group]} (the groups of the
    server's ports); 404 unknown server."""
    proxy_api(request)
    ctx, inst = await server_for(request, SG + "list")
    ports = await _proxy(request).server_ports(ctx, inst.uuid)
    ids = sorted({g for p in ports for g in p.get("security_groups") or []})
    groups = await _all_groups(request, ctx, ids)
    return ok({"security_groups": [nova_group(groups[i], groups) for i in ids if i in groups]})


def _group_name(args) -> str:
    if not isinstance(args, dict) or not isinstance(args.get("name"), str) or not args["name"].strip():
        raise BadRequest("Missing parameter name: security group name or id")
    return args["name"].strip()


async def add_security_group(request: Request, args) -> None:
    """``{"addSecurityGroup": {"name": name-or-id}}`` -> 202 (added to every port of the server);
    400 no name or a port without port security, 404 unknown group or server, 409 ambiguous name."""
    name = _group_name(args)
    ctx, inst = await server_for(request, SG + "add")
    proxy = _proxy(request)
    group = await proxy.security_group(ctx, name)
    ports = await proxy.server_ports(ctx, inst.uuid)
    if not ports:
        raise BadRequest(f"Instance {inst.uuid} has no network port to add security group {name} to.")
    if any(p.get("port_security_enabled") is False for p in ports):
        raise BadRequest("Cannot add security group to a port with port security disabled.")
    for port in ports:
        current = list(port.get("security_groups") or [])
        if group["id"] not in current:
            await proxy.set_port_groups(port["id"], current + [group["id"]])
    names = list(inst.security_groups or [])
    if (group.get("name") or group["id"]) not in names:
        await _shown_groups(request, ctx, inst.uuid, names + [group.get("name") or group["id"]])


async def remove_security_group(request: Request, args) -> None:
    """``{"removeSecurityGroup": {"name": name-or-id}}`` -> 202; 400 group not on the server,
    404 unknown group or server."""
    name = _group_name(args)
    ctx, inst = await server_for(request, SG + "remove")
    proxy = _proxy(request)
    group = await proxy.security_group(ctx, name)
    ports = [p for p in await proxy.server_ports(ctx, inst.uuid)
             if group["id"] in (p.get("security_groups") or [])]
    if not ports:
        raise BadRequest(f"Security group {name} not associated with the instance {inst.uuid}")
    for port in ports:
        await proxy.set_port_groups(port["id"], [g for g in port["security_groups"] if g != group["id"]])
    left = [n for n in inst.security_groups or [] if n not in (group.get("name"), group["id"])]
    await _shown_groups(request, ctx, inst.uuid, left)


async def _shown_groups(request: Request, ctx, uuid: str, names: list[str]) -> None:
    """Store the group names the server shows (``security_groups``, left out when empty)."""
    await request.app.state.compute.update_server(ctx, uuid, {"security_groups": names})


async def no_group(request: Request):
    """``/os-security-groups/`` with an empty id -> 404 (nova's router finds no group)."""
    raise NotFound("Security group  not found.")


#: server actions of this module: name -> handler(request, args)
ACTIONS = {"addSecurityGroup": add_security_group, "removeSecurityGroup": remove_security_group}


def routes() -> list[Route]:
    """The security group proxy routes (under /v2.1)."""
    g, r = "/v2.1/os-security-groups", "/v2.1/os-security-group-rules"
    return [
        Route(g, list_groups, methods=["GET"]),
        Route(g, create_group, methods=["POST"]),
        Route(g + "/{group_id}", show_group, methods=["GET"]),
        Route(g + "/{group_id}", update_group, methods=["PUT"]),
        Route(g + "/{group_id}", delete_group, methods=["DELETE"]),
        Route(g + "/", no_group, methods=["GET", "PUT", "DELETE"]),
        Route(r, create_rule, methods=["POST"]),
        Route(r + "/{rule_id}", delete_rule, methods=["DELETE"]),
        Route("/v2.1/servers/{server_id}/os-security-groups", server_groups, methods=["GET"]),
    ]
