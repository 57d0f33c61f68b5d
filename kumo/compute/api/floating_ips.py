"""Floating IPs through the compute API (Compute API reference: "Floating IPs (os-floating-ips)",
"Floating IP pools (os-floating-ip-pools)", "Servers - run an action" (addFloatingIp,
removeFloatingIp)). Valid up to microversion 2.35 (404 from 2.36).

Translated to the Networking API ``/v2.0/floatingips`` with the caller's token.
Nova's shape: ``{"id", "ip", "pool" (external network name), "fixed_ip",
"instance_id"}``; a pool is an external network (``router:external``).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.compute.api.common import authorize, ok, proxy_api, server_for
from kumo.compute.netproxy import NetworkProxy, q, uuid_like

FIP = "os_compute_api:os-floating-ips:"


def _proxy(request: Request) -> NetworkProxy:
    return request.app.state.compute.netproxy


async def _pools(request: Request, ctx) -> list[dict]:
    """External networks the caller sees."""
    body = await _proxy(request).call(ctx, "GET", "/v2.0/networks", params={"router:external": "true"})
    return [n for n in body.get("networks", []) if n.get("router:external")]


async def _view(request: Request, ctx, fips: list[dict]) -> list[dict]:
    """Floating IPs in nova's shape (pool names and instance ids looked up once)."""
    proxy = _proxy(request)
    pools = {n["id"]: n.get("name") or n["id"] for n in await _pools(request, ctx)} if fips else {}
    out = []
    for fip in fips:
        instance = None
        if fip.get("port_id"):
            port = await proxy.find(ctx, "port", "/v2.0/ports", fip["port_id"])
            instance = (port or {}).get("device_id") or None
        out.append({"id": fip["id"], "ip": fip.get("floating_ip_address"),
                    "pool": pools.get(fip.get("floating_network_id"), fip.get("floating_network_id")),
                    "fixed_ip": fip.get("fixed_ip_address"), "instance_id": instance})
    return out


async def _fip(request: Request, ctx, fip_id: str) -> dict:
    fip = None
    if uuid_like(fip_id):
        fip = await _proxy(request).find(ctx, "floatingip", "/v2.0/floatingips", fip_id)
    if fip is None:
        raise NotFound(f"Floating IP {fip_id} could not be found.")
    return fip


async def _fip_by_address(request: Request, ctx, address) -> dict:
    if not isinstance(address, str) or not address:
        raise BadRequest("Missing or invalid floating IP 'address'.")
    found = (await _proxy(request).get(ctx, "/v2.0/floatingips", floating_ip_address=address)).get(
        "floatingips", [])
    found = [f for f in found if f.get("floating_ip_address") == address]
    if not found:
        raise NotFound(f"Floating IP not found for address {address}.")
    return found[0]


async def list_floating_ips(request: Request):
    """GET /os-floating-ips -> 200 {"floating_ips": [fip]} (the caller's project)."""
    proxy_api(request)
    ctx = authorize(request, FIP + "list")
    body = await _proxy(request).get(ctx, "/v2.0/floatingips", project_id=ctx.project_id)
    return ok({"floating_ips": await _view(request, ctx, body.get("floatingips", []))})


async def show_floating_ip(request: Request):
    """GET /os-floating-ips/{id} -> 200 {"floating_ip": fip}; 404."""
    proxy_api(request)
    ctx = authorize(request, FIP + "show")
    fip = await _fip(request, ctx, request.path_params["fip_id"])
    return ok({"floating_ip": (await _view(request, ctx, [fip]))[0]})


async def create_floating_ip(request: Request):
    """POST /os-floating-ips [{"pool": name-or-id}] -> 200 {"floating_ip": fip}; 404 unknown pool
    or no free address, 400 several pools and none named, 403 quota."""
    proxy_api(request)
    body = {}
    if await request.body():
        body = await json_body(request)
        if not isinstance(body, dict):
            raise BadRequest("Malformed request body")
    pool = body.get("pool")
    if pool is not None and not isinstance(pool, str):
        raise BadRequest("Invalid input for field/attribute pool.")
    ctx = authorize(request, FIP + "create")
    pools = await _pools(request, ctx)
    if pool:
        chosen = [n for n in pools if n["id"] == pool] or [n for n in pools if n.get("name") == pool]
    else:
        chosen = [n for n in pools if n.get("name") == "public"] or pools
    if not chosen:
        raise NotFound(f"Floating IP pool not found: {pool or 'default'}.")
    if len(chosen) > 1 and not pool:
        raise BadRequest("Several floating IP pools exist: name one with 'pool'.")
    created = await _proxy(request).call(
        ctx, "POST", "/v2.0/floatingips", json={"floatingip": {"floating_network_id": chosen[0]["id"]}},
        errors={409: NotFound})
    return ok({"floating_ip": (await _view(request, ctx, [created["floatingip"]]))[0]})


async def delete_floating_ip(request: Request):
    """DELETE /os-floating-ips/{id} -> 202 (disassociated and released); 404."""
    proxy_api(request)
    ctx = authorize(request, FIP + "delete")
    fip = await _fip(request, ctx, request.path_params["fip_id"])
    await _proxy(request).call(ctx, "DELETE", f"/v2.0/floatingips/{q(fip['id'])}")
    return ok(status=202)


async def list_pools(request: Request):
    """GET /os-floating-ip-pools -> 200 {"floating_ip_pools": [{"name"}]}."""
    proxy_api(request)
    ctx = authorize(request, "os_compute_api:os-floating-ip-pools:list")
    return ok({"floating_ip_pools": [{"name": n.get("name") or n["id"]} for n in await _pools(request, ctx)]})


async def add_floating_ip(request: Request, args) -> None:
    """``{"addFloatingIp": {"address", "fixed_address"?}}`` -> 202; the server's port with
    ``fixed_address`` (or its first port with an IPv4 address) gets the floating IP, moving it
    from another server if needed. 400 bad body, no such fixed address, no port, or the port
    already has a floating IP; 404 unknown address or server."""
    if not isinstance(args, dict):
        raise BadRequest("Malformed request body")
    fixed = args.get("fixed_address")
    ctx, inst = await server_for(request, FIP + "add")
    fip = await _fip_by_address(request, ctx, args.get("address"))
    ports = await _proxy(request).server_ports(ctx, inst.uuid)
    chosen, chosen_ip = None, None
    for port in ports:
        for ip in port.get("fixed_ips") or []:
            address = ip.get("ip_address", "")
            if (fixed and address == fixed) or (not fixed and ":" not in address):
                chosen, chosen_ip = port, address
                break
        if chosen:
            break
    if chosen is None:
        if fixed:
            raise BadRequest(f"Specified fixed address {fixed} not assigned to instance")
        raise BadRequest(f"Instance {inst.uuid} has no network port with an IPv4 address.")
    if fip.get("port_id") == chosen["id"] and fip.get("fixed_ip_address") == chosen_ip:
        return
    await _proxy(request).call(ctx, "PUT", f"/v2.0/floatingips/{q(fip['id'])}",
                               json={"floatingip": {"port_id": chosen["id"], "fixed_ip_address": chosen_ip}},
                               errors={409: BadRequest, 404: BadRequest})


async def remove_floating_ip(request: Request, args) -> None:
    """``{"removeFloatingIp": {"address"}}`` -> 202; 400 bad body, 404 unknown address or server,
    409 the address is not associated with this server."""
    if not isinstance(args, dict):
        raise BadRequest("Malformed request body")
    ctx, inst = await server_for(request, FIP + "remove")
    fip = await _fip_by_address(request, ctx, args.get("address"))
    ports = {p["id"] for p in await _proxy(request).server_ports(ctx, inst.uuid)}
    if not fip.get("port_id") or fip["port_id"] not in ports:
        raise Conflict(f"Floating IP {fip.get('floating_ip_address')} is not associated with instance "
                       f"{inst.uuid}.")
    await _proxy(request).call(ctx, "PUT", f"/v2.0/floatingips/{q(fip['id'])}",
                               json={"floatingip": {"port_id": None}})


#: server actions of this module: name -> handler(request, args)
ACTIONS = {"addFloatingIp": add_floating_ip, "removeFloatingIp": remove_floating_ip}


def routes() -> list[Route]:
    """The floating IP proxy routes (under /v2.1)."""
    p = "/v2.1/os-floating-ips"
    return [
        Route(p, list_floating_ips, methods=["GET"]),
        Route(p, create_floating_ip, methods=["POST"]),
        Route(p + "/{fip_id}", show_floating_ip, methods=["GET"]),
        Route(p + "/{fip_id}", delete_floating_ip, methods=["DELETE"]),
        Route("/v2.1/os-floating-ip-pools", list_pools, methods=["GET"]),
    ]
