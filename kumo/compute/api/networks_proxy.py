"""Read-only network proxies (Compute API reference: "Networks (os-networks) (DEPRECATED)" and
"Project Networks (os-tenant-networks) (DEPRECATED)"), valid up to microversion 2.35.

Both translate the Networking API's networks (and their first IPv4/IPv6
subnets) seen with the caller's token: ``os-tenant-networks`` answers
``{"id", "label", "cidr"}``; ``os-networks`` also the nova-network fields
kumo can fill (``cidr_v6``, ``gateway``, ``gateway_v6``, ``netmask``,
``enable_dhcp``, ``mtu``, ``project_id``), the others null.
"""
from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.errors import NotFound
from kumo.compute.api.common import authorize, ok, proxy_api
from kumo.compute.netproxy import project_of

#: nova-network fields kumo has no value for
_NULL_FIELDS = ("bridge", "bridge_interface", "broadcast", "created_at", "deleted", "deleted_at",
                "dhcp_server", "dhcp_start", "dns1", "dns2", "host", "injected", "multi_host",
                "netmask_v6", "priority", "rxtx_base", "share_address", "updated_at", "vlan",
                "vpn_private_address", "vpn_public_address", "vpn_public_port")


async def _networks(request: Request, ctx) -> tuple[list[dict], dict[str, dict]]:
    proxy = request.app.state.compute.netproxy
    nets = (await proxy.get(ctx, "/v2.0/networks")).get("networks", [])
    subnets = (await proxy.get(ctx, "/v2.0/subnets")).get("subnets", []) if nets else []
    return nets, {s["id"]: s for s in subnets}


def _first(net: dict, subnets: dict[str, dict], version: int) -> dict | None:
    for sid in net.get("subnets") or []:
        sub = subnets.get(sid)
        if sub and int(sub.get("ip_version", 4)) == version:
            return sub
    return None


def tenant_view(net: dict, subnets: dict[str, dict]) -> dict:
    """``{"id", "label", "cidr"}`` (cidr of the first IPv4 subnet, else null)."""
    v4 = _first(net, subnets, 4)
    return {"id": net["id"], "label": net.get("name") or "", "cidr": v4["cidr"] if v4 else None}


def network_view(net: dict, subnets: dict[str, dict]) -> dict:
    """The os-networks body of a network (nova-network's fields, those without a value null)."""
    v4, v6 = _first(net, subnets, 4), _first(net, subnets, 6)
    body = dict.fromkeys(_NULL_FIELDS)
    body.update(tenant_view(net, subnets))
    body.update({"cidr_v6": v6["cidr"] if v6 else None,
                 "gateway": v4.get("gateway_ip") if v4 else None,
                 "gateway_v6": v6.get("gateway_ip") if v6 else None,
                 "netmask": str(ipaddress.ip_network(v4["cidr"], strict=False).netmask) if v4 else None,
                 "enable_dhcp": bool(v4.get("enable_dhcp")) if v4 else None,
                 "mtu": net.get("mtu"), "project_id": project_of(net)})
    return body


async def _list(request: Request, rule: str, view) -> dict:
    proxy_api(request)
    ctx = authorize(request, rule)
    nets, subnets = await _networks(request, ctx)
    return ok({"networks": [view(n, subnets) for n in nets]})


async def _show(request: Request, rule: str, view) -> dict:
    proxy_api(request)
    ctx = authorize(request, rule)
    nets, subnets = await _networks(request, ctx)
    wanted = request.path_params["network_id"]
    for net in nets:
        if net["id"] == wanted:
            return ok({"network": view(net, subnets)})
    raise NotFound(f"Network {wanted} could not be found.")


async def list_networks(request: Request):
    """GET /os-networks -> 200 {"networks": [network]}."""
    return await _list(request, "os_compute_api:os-networks:list", network_view)


async def show_network(request: Request):
    """GET /os-networks/{id} -> 200 {"network": network}; 404."""
    return await _show(request, "os_compute_api:os-networks:view", network_view)


async def list_tenant_networks(request: Request):
    """GET /os-tenant-networks -> 200 {"networks": [{"id", "label", "cidr"}]}."""
    return await _list(request, "os_compute_api:os-tenant-networks:list", tenant_view)


async def show_tenant_network(request: Request):
    """GET /os-tenant-networks/{id} -> 200 {"network": {"id", "label", "cidr"}}; 404."""
    return await _show(request, "os_compute_api:os-tenant-networks:show", tenant_view)


def routes() -> list[Route]:
    """The network proxy routes (under /v2.1)."""
    return [
        Route("/v2.1/os-networks", list_networks, methods=["GET"]),
        Route("/v2.1/os-networks/{network_id}", show_network, methods=["GET"]),
        Route("/v2.1/os-tenant-networks", list_tenant_networks, methods=["GET"]),
        Route("/v2.1/os-tenant-networks/{network_id}", show_tenant_network, methods=["GET"]),
    ]
