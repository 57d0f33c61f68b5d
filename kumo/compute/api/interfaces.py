"""Port interfaces (Compute API reference: "Port interfaces (servers, os-interface)") and the
``addFixedIp`` / ``removeFixedIp`` server actions (up to 2.43).

An interface is a port whose ``device_id`` is the server, shown as
``{"port_state", "fixed_ips": [{"subnet_id", "ip_address"}], "port_id",
"net_id", "mac_addr"}`` (plus ``"tag": null`` from 2.70).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest, NotFound
from kumo.compute import interfaces
from kumo.compute.api.common import at_least, ok, server_for
from kumo.compute.netproxy import uuid_like

IFACES = "os_compute_api:os-attach-interfaces:"


def view(request: Request, port: dict) -> dict:
    """A port as an ``interfaceAttachment``."""
    body = {"port_state": port.get("status") or "DOWN",
            "fixed_ips": [{"subnet_id": ip.get("subnet_id"), "ip_address": ip.get("ip_address")}
                          for ip in port.get("fixed_ips") or []],
            "port_id": port["id"], "net_id": port.get("network_id"), "mac_addr": port.get("mac_address")}
    if at_least(request, 2, 70):
        body["tag"] = None
    return body


async def list_interfaces(request: Request):
    """GET /servers/{id}/os-interface -> 200 {"interfaceAttachments": [interface]}; 404."""
    ctx, inst = await server_for(request, IFACES + "list")
    ports = await request.app.state.compute.netproxy.server_ports(ctx, inst.uuid)
    return ok({"interfaceAttachments": [view(request, p) for p in ports]})


async def _attached_port(request: Request, ctx, inst, port_id: str) -> dict:
    ports = await request.app.state.compute.netproxy.server_ports(ctx, inst.uuid)
    for port in ports:
        if port["id"] == port_id:
            return port
    raise NotFound(f"Port {port_id} is not attached")


async def show_interface(request: Request):
    """GET /servers/{id}/os-interface/{port_id} -> 200 {"interfaceAttachment": interface}; 404 unknown
    server or a port not attached to it."""
    ctx, inst = await server_for(request, IFACES + "show")
    port = await _attached_port(request, ctx, inst, request.path_params["port_id"])
    return ok({"interfaceAttachment": view(request, port)})


def _attach_args(body) -> tuple[str | None, str | None, str | None]:
    """``(port_id, net_id, fixed_ip)`` of an ``interfaceAttachment``; 400 for a bad body (both
    port and network, fixed_ips without a network or with more than one address)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("Invalid input for field/attribute interfaceAttachment.")
    extra = set(body) - {"port_id", "net_id", "fixed_ips", "tag"}
    if extra:
        raise BadRequest(f"Additional properties are not allowed ({', '.join(sorted(extra))} "
                         "were unexpected)")
    port_id, net_id, fixed = body.get("port_id"), body.get("net_id"), body.get("fixed_ips")
    for name, value in (("port_id", port_id), ("net_id", net_id)):
        if value is not None and (not isinstance(value, str) or not uuid_like(value)):
            raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                             f"'{value}' is not a 'uuid'")
    if port_id and net_id:
        raise BadRequest("Must not input both network_id and port_id")
    fixed_ip = None
    if fixed is not None:
        if (not isinstance(fixed, list) or len(fixed) != 1 or not isinstance(fixed[0], dict)
                or not isinstance(fixed[0].get("ip_address"), str)):
            raise BadRequest("Invalid input for field/attribute fixed_ips: one {\"ip_address\"} allowed")
        if not net_id:
            raise BadRequest("Must input network_id when request IP address")
        fixed_ip = fixed[0]["ip_address"]
    return port_id, net_id, fixed_ip


async def create_interface(request: Request):
    """POST /servers/{id}/os-interface {"interfaceAttachment": {"port_id"} | {"net_id", "fixed_ips"?}
    | {}} -> 200 {"interfaceAttachment": interface}; 400 bad body or no/ambiguous network, 404 unknown
    server/port/network, 409 port or address in use or server not active/paused/stopped."""
    body = await json_body(request)
    if not isinstance(body, dict) or "interfaceAttachment" not in body and body:
        raise BadRequest("Invalid input: 'interfaceAttachment' is a required property")
    port_id, net_id, fixed_ip = _attach_args(body.get("interfaceAttachment"))
    ctx, inst = await server_for(request, IFACES + "create")
    compute = request.app.state.compute
    vif = await interfaces.attach(compute, ctx, inst, port_id, net_id, fixed_ip)
    port = await compute.netproxy.find(ctx, "port", "/v2.0/ports", vif["port_id"])
    return ok({"interfaceAttachment": view(request, port or {
        "id": vif["port_id"], "network_id": vif["network_id"], "mac_address": vif["mac_address"],
        "fixed_ips": vif["fixed_ips"]})})


async def delete_interface(request: Request):
    """DELETE /servers/{id}/os-interface/{port_id} -> 202; 404 not attached, 409 wrong state."""
    ctx, inst = await server_for(request, IFACES + "delete")
    await interfaces.detach(request.app.state.compute, ctx, inst, request.path_params["port_id"])
    return ok(status=202)


async def add_fixed_ip(request: Request, args) -> None:
    """``{"addFixedIp": {"networkId"}}`` (up to 2.43) -> 202: a new interface on that network."""
    if at_least(request, 2, 44):
        raise BadRequest("There is no such action: addFixedIp")
    if not isinstance(args, dict) or not isinstance(args.get("networkId"), str):
        raise BadRequest("Invalid input: 'networkId' is a required property")
    ctx, inst = await server_for(request, "os_compute_api:os-multinic")
    await interfaces.attach(request.app.state.compute, ctx, inst, None, args["networkId"], None)


async def remove_fixed_ip(request: Request, args) -> None:
    """``{"removeFixedIp": {"address"}}`` (up to 2.43) -> 202: detaches the interface holding the
    address; 400 when the server has no such address."""
    if at_least(request, 2, 44):
        raise BadRequest("There is no such action: removeFixedIp")
    if not isinstance(args, dict) or not isinstance(args.get("address"), str):
        raise BadRequest("Invalid input: 'address' is a required property")
    ctx, inst = await server_for(request, "os_compute_api:os-multinic")
    for vif in inst.network_info or []:
        if any(ip.get("ip_address") == args["address"] for ip in vif.get("fixed_ips") or []):
            await interfaces.detach(request.app.state.compute, ctx, inst, vif["port_id"])
            return
    raise BadRequest(f"Unable to find address {args['address']}")


#: server actions of this module: name -> handler(request, args)
ACTIONS = {"addFixedIp": add_fixed_ip, "removeFixedIp": remove_fixed_ip}


def routes() -> list[Route]:
    """The os-interface routes (under /v2.1)."""
    p = "/v2.1/servers/{server_id}/os-interface"
    return [
        Route(p, list_interfaces, methods=["GET"]),
        Route(p, create_interface, methods=["POST"]),
        Route(p + "/{port_id}", show_interface, methods=["GET"]),
        Route(p + "/{port_id}", delete_interface, methods=["DELETE"]),
    ]
