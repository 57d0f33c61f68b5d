"""Routers (Networking API v2.0, "Routers": extensions ``router``, ``ext-gw-mode``, ``extraroute``).

A router is a row plus ports whose ``device_id`` is the router's id:

- the gateway port (``device_owner`` ``network:router_gateway``, no project, so
  only admins see it) on an external network, addresses from
  ``external_gateway_info.external_fixed_ips`` (admin only) or the pools;
  ``enable_snat`` (admin only to set) defaults to true;
- interface ports (``network:router_interface``, the router's project): by
  ``subnet_id`` the port takes the subnet's ``gateway_ip``; by ``port_id`` an
  unused port of the caller becomes the interface.

Errors: 404 RouterNotFound / NetworkNotFound / SubnetNotFound / PortNotFound /
RouterInterfaceNotFound(ForSubnet); 400 for a gateway on a network that is not
external, an interface subnet without gateway or overlapping another interface,
a route whose nexthop is on no connected subnet; 409 RouterInUse (delete with
interfaces), RouterInterfaceInUseByFloatingIP / ...ByRoute (remove interface),
PortInUse, RouterExternalGatewayInUseByFloatingIp, IpAddressAlreadyAllocated.
After each change the L3 agents hear ``l3_agent.routers_updated(router_ids)`` or
``router_deleted(router_id)`` (fanout).
"""
from __future__ import annotations

import ipaddress
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import isotime
from kumo.network import errors
from kumo.network.models import FloatingIP, IPAllocation, Port, Router, Subnet
from kumo.network.schemas import uuid_str
from kumo.network.service.ports import PortsMixin
from kumo.network.service.scheduler import SchedulerMixin

log = logging.getLogger(__name__)

L3_TOPIC = "l3_agent"
ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
FLOATINGIP_OWNER = "network:floatingip"
#: Ports only the L3 API may delete (neutron's L3PortInUse on DELETE /ports/{id}).
L3_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATINGIP_OWNER)


def bad_router(reason: str) -> BadRequest:
    """400 ``BadRequest``: "Bad router request: <reason>."."""
    return BadRequest(f"Bad router request: {reason}.", kind="BadRequest")


def router_view(router: Router, gw_port: Port | None) -> dict:
    """The router's JSON: ``external_gateway_info`` is None without a gateway, else
    ``{"network_id", "enable_snat", "external_fixed_ips": [{"subnet_id", "ip_address"}]}``."""
    gateway = None
    if gw_port is not None:
        gateway = {"network_id": gw_port.network_id, "enable_snat": router.enable_snat,
                   "external_fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                                          for a in gw_port.fixed_ips]}
    return {
        "id": router.id,
        "name": router.name,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "status": router.status,
        "admin_state_up": router.admin_state_up,
        "external_gateway_info": gateway,
        "routes": [dict(r) for r in router.routes or []],
        "description": router.description,
        "tags": list(router.tags or []),
        "created_at": isotime(router.created_at),
        "updated_at": isotime(router.updated_at),
        "revision_number": router.revision_number,
    }


class RoutersMixin(PortsMixin, SchedulerMixin):
    """Routers; ``check_quota`` comes from the quotas mixin of :class:`NetworkService`."""

    # --- lookups ---------------------------------------------------------------
    @staticmethod
    def router_target(router: Router) -> dict:
        return {"id": router.id, "project_id": router.project_id}

    async def get_router(self, s: AsyncSession, ctx: RequestContext, router_id: str) -> Router:
        """The router if ``get_router`` allows the caller, else 404 RouterNotFound."""
        router = await s.get(Router, router_id)
        if router is None or not self.allowed(ctx, "get_router", self.router_target(router)):
            raise errors.not_found("router", router_id)
        return router

    async def _router_view(self, s: AsyncSession, router: Router) -> dict:
        gw = await s.get(Port, router.gw_port_id) if router.gw_port_id else None
        return router_view(router, gw)

    async def interface_ports(self, s: AsyncSession, router_id: str) -> list[Port]:
        return list((await s.scalars(select(Port).where(
            Port.device_id == router_id, Port.device_owner == ROUTER_INTERFACE))).all())

    async def _connected_subnets(self, s: AsyncSession, router: Router,
                                 with_gateway: bool = False) -> list[Subnet]:
        """Subnets of the router's interfaces (and of its gateway port when asked)."""
        ports = await self.interface_ports(s, router.id)
        if with_gateway and router.gw_port_id:
            gw = await s.get(Port, router.gw_port_id)
            ports += [gw] if gw else []
        ids = {a.subnet_id for p in ports for a in p.fixed_ips}
        if not ids:
            return []
        return list((await s.scalars(select(Subnet).where(Subnet.id.in_(ids)))).all())

    # --- bus ---------------------------------------------------------------------
    async def notify_l3(self, method: str, **kwargs) -> None:
        """Fan ``method(**kwargs)`` out to every L3 agent (each wires the routers it hosts);
        updated routers that need an agent get one first. Never fails the caller."""
        for router_id in kwargs.get("router_ids", []) if method == "routers_updated" else []:
            await self.schedule_router(router_id)
        try:
            await self.bus.fanout(L3_TOPIC, method, **kwargs)
        except Exception:  # a committed change stands even when no agent hears of it
            log.exception("could not notify L3 agents: %s %s", method, kwargs)

    # --- gateway -----------------------------------------------------------------
    def _check_gateway_attrs(self, ctx: RequestContext, op: str, info: dict, target: dict) -> None:
        keys = ["external_gateway_info"] + [f"external_gateway_info:{k}" for k in
                                            ("network_id", "enable_snat", "external_fixed_ips")
                                            if k in info]
        self.authorize_attributes(ctx, op, "router", keys, target)

    async def _set_gateway(self, s: AsyncSession, ctx: RequestContext, router: Router,
                           info: dict) -> None:
        """Apply ``external_gateway_info`` (``{}``: remove the gateway)."""
        old = await s.get(Port, router.gw_port_id) if router.gw_port_id else None
        if not info:
            if old is not None:
                await self._check_gateway_unused(s, router)
                await s.delete(old)
            router.gw_port_id, router.gw_network_id, router.enable_snat = None, None, True
            return
        net = await self.get_network(s, ctx, info["network_id"])
        if not net.external:
            raise BadRequest(f"Bad router request: Network {net.id} is not an external network.",
                             kind="BadRequest")
        wanted = info.get("external_fixed_ips")
        same_ips = old is not None and (wanted is None or _same_ips(old, wanted))
        if old is None or old.network_id != net.id or not same_ips:
            if old is not None:
                if old.network_id != net.id:
                    await self._check_gateway_unused(s, router)
                await s.delete(old)
                await s.flush()
            port = await self.allocate_port(s, net, "", wanted, device_owner=ROUTER_GATEWAY,
                                            device_id=router.id)
            router.gw_port_id, router.gw_network_id = port.id, net.id
        router.enable_snat = info.get("enable_snat", True)

    async def _check_gateway_unused(self, s: AsyncSession, router: Router) -> None:
        used = await s.scalar(select(FloatingIP.id).where(FloatingIP.router_id == router.id).limit(1))
        if used:
            raise Conflict(f"Gateway cannot be updated for router {router.id}, since a gateway to "
                           f"external network {router.gw_network_id} is required by one or more "
                           "floating IPs.", kind="RouterExternalGatewayInUseByFloatingIp")

    # --- routes ------------------------------------------------------------------
    async def _check_routes(self, s: AsyncSession, router: Router, routes: list[dict]) -> None:
        """400 InvalidRoutes unless each nexthop is on a connected subnet and not the router's."""
        subnets = await self._connected_subnets(s, router, with_gateway=True)
        own = {a.ip_address for p in await self.interface_ports(s, router.id) for a in p.fixed_ips}
        for route in routes:
            hop = ipaddress.ip_address(route["nexthop"])
            if route["nexthop"] in own:
                reason = "the nexthop is used by router"
            elif not any(hop in ipaddress.ip_network(x.cidr) for x in subnets):
                reason = "the nexthop is not connected with router"
            else:
                continue
            raise BadRequest(f"Invalid format for routes: {routes}, {reason}", kind="InvalidRoutes")

    # --- CRUD --------------------------------------------------------------------
    async def create_router(self, ctx: RequestContext, body: dict) -> dict:
        """Create a router (name, admin_state_up, description, external_gateway_info); its view.
        403 for readers and admin-only gateway attributes; 404/400/409 as in the module doc."""
        project = body.pop("project_id", None) or ctx.project_id
        target = {"project_id": project}
        self.authorize(ctx, "create_router", target)
        info = body.get("external_gateway_info") or {}
        if info:
            self._check_gateway_attrs(ctx, "create", info, target)

        async def tx(s: AsyncSession) -> dict:
            await self.check_quota(s, ctx, "router", project_id=project)
            router = Router(project_id=project, name=body["name"], description=body["description"],
                            admin_state_up=body["admin_state_up"], tags=body["tags"], routes=[])
            s.add(router)
            await s.flush()
            await self._set_gateway(s, ctx, router, info)
            await s.flush()
            return await self._router_view(s, router)

        view = await self.write(tx)
        await self.notify_l3("routers_updated", router_ids=[view["id"]])
        return view

    async def list_routers(self, ctx: RequestContext) -> list[dict]:
        """Views of the routers ``get_router`` shows the caller (its project's; admins all)."""
        async def tx(s: AsyncSession) -> list[dict]:
            q = select(Router).order_by(Router.id)
            if not self.admin(ctx):
                q = q.where(Router.project_id == ctx.project_id)
            routers = [r for r in (await s.scalars(q)).all()
                       if self.allowed(ctx, "get_router", self.router_target(r))]
            gw_ids = [r.gw_port_id for r in routers if r.gw_port_id]
            ports = {p.id: p for p in (await s.scalars(select(Port).where(Port.id.in_(gw_ids)))).all()}
            return [router_view(r, ports.get(r.gw_port_id or "")) for r in routers]
        return await self.read(tx)

    async def show_router(self, ctx: RequestContext, router_id: str) -> dict:
        async def tx(s: AsyncSession) -> dict:
            return await self._router_view(s, await self.get_router(s, ctx, router_id))
        return await self.read(tx)

    async def update_router(self, ctx: RequestContext, router_id: str, body: dict) -> dict:
        """Apply a parsed PUT body (name, description, admin_state_up, external_gateway_info,
        routes); the new view. 404/403/400/409 as in the module doc."""
        async def tx(s: AsyncSession) -> dict:
            router = await self.get_router(s, ctx, router_id)
            target = self.router_target(router)
            self.authorize(ctx, "update_router", target)
            if "external_gateway_info" in body:
                info = body["external_gateway_info"]
                self._check_gateway_attrs(ctx, "update", info, target)
                await self._set_gateway(s, ctx, router, info)
                await s.flush()
            if "routes" in body:
                await self._check_routes(s, router, body["routes"])
                router.routes = body["routes"]
            for key in ("name", "description", "admin_state_up"):
                if key in body:
                    setattr(router, key, body[key])
            router.touch()
            await s.flush()
            return await self._router_view(s, router)

        view = await self.write(tx)
        await self.notify_l3("routers_updated", router_ids=[router_id])
        return view

    async def delete_router(self, ctx: RequestContext, router_id: str) -> None:
        """Delete a router and its gateway port. 409 RouterInUse while it has interfaces."""
        async def tx(s: AsyncSession) -> None:
            router = await self.get_router(s, ctx, router_id)
            self.authorize(ctx, "delete_router", self.router_target(router))
            if await self.interface_ports(s, router.id):
                raise Conflict(f"Router {router.id} still has ports", kind="RouterInUse")
            await self._check_gateway_unused(s, router)
            if router.gw_port_id:
                gw = await s.get(Port, router.gw_port_id)
                if gw is not None:
                    await s.delete(gw)
            await s.delete(router)

        await self.write(tx)
        await self.notify_l3("router_deleted", router_id=router_id)

    # --- interfaces --------------------------------------------------------------
    async def _check_overlap(self, s: AsyncSession, router: Router, subnets: list[Subnet]) -> None:
        current = await self._connected_subnets(s, router)
        for new in subnets:
            for other in current:
                if other.id == new.id:
                    raise bad_router(f"Router already has a port on subnet {new.id}")
                if ipaddress.ip_network(other.cidr).overlaps(ipaddress.ip_network(new.cidr)):
                    raise bad_router(f"Cidr {new.cidr} of subnet {new.id} overlaps with cidr "
                                     f"{other.cidr} of subnet {other.id}")

    @staticmethod
    def _interface_info(router: Router, port: Port) -> dict:
        subnet_ids = [a.subnet_id for a in port.fixed_ips]
        return {"id": router.id, "tenant_id": router.project_id, "project_id": router.project_id,
                "port_id": port.id, "network_id": port.network_id,
                "subnet_id": subnet_ids[0] if subnet_ids else None, "subnet_ids": subnet_ids}

    async def add_router_interface(self, ctx: RequestContext, router_id: str, body: dict) -> dict:
        """``PUT /v2.0/routers/{id}/add_router_interface`` with ``subnet_id`` or ``port_id``;
        ``{"id", "tenant_id", "project_id", "port_id", "network_id", "subnet_id", "subnet_ids"}``."""
        body = _interface_body(body, exactly_one=True)

        async def tx(s: AsyncSession) -> dict:
            router = await self.get_router(s, ctx, router_id)
            self.authorize(ctx, "add_router_interface", self.router_target(router))
            if "port_id" in body:
                port, _ = await self.get_port(s, ctx, body["port_id"])
                if port.device_id or port.device_owner:
                    raise Conflict(f"Unable to complete operation on port {port.id} for network "
                                   f"{port.network_id}. Port already has an attached device "
                                   f"{port.device_id}.", kind="PortInUse")
                if not port.fixed_ips:
                    raise bad_router("Router port must have at least one fixed IP")
                subnets = list((await s.scalars(select(Subnet).where(
                    Subnet.id.in_([a.subnet_id for a in port.fixed_ips])))).all())
                await self._check_overlap(s, router, subnets)
                port.device_id, port.device_owner = router.id, ROUTER_INTERFACE
                port.touch()
            else:
                subnet, net = await self.get_subnet(s, ctx, body["subnet_id"])
                if not subnet.gateway_ip:
                    raise bad_router("Subnet for router interface must have a gateway IP")
                await self._check_overlap(s, router, [subnet])
                port = await self.allocate_port(
                    s, net, router.project_id,
                    [{"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}],
                    device_owner=ROUTER_INTERFACE, device_id=router.id)
            router.touch()
            await s.flush()
            return self._interface_info(router, port), await self.has_dhcp(s, port.network_id)

        info, dhcp = await self.write(tx)
        if dhcp:
            await self.notify_dhcp("network_changed", info["network_id"])
        await self.notify_l3("routers_updated", router_ids=[router_id])
        return info

    async def remove_router_interface(self, ctx: RequestContext, router_id: str, body: dict) -> dict:
        """``PUT /v2.0/routers/{id}/remove_router_interface`` with ``subnet_id`` and/or
        ``port_id``: deletes the interface port; the same shape as add. 404 when the router
        has no such interface; 409 when a floating IP or a route needs it."""
        body = _interface_body(body, exactly_one=False)

        async def tx(s: AsyncSession) -> dict:
            router = await self.get_router(s, ctx, router_id)
            self.authorize(ctx, "remove_router_interface", self.router_target(router))
            port = await self._find_interface(s, ctx, router, body)
            info = self._interface_info(router, port)
            cidrs = [ipaddress.ip_network(x.cidr) for x in (await s.scalars(select(Subnet).where(
                Subnet.id.in_(info["subnet_ids"])))).all()]
            fips = (await s.scalars(select(FloatingIP.fixed_ip_address).where(
                FloatingIP.router_id == router.id))).all()
            if any(ipaddress.ip_address(ip) in c for ip in fips if ip for c in cidrs):
                raise Conflict(f"Router interface for subnet {info['subnet_id']} on router "
                               f"{router.id} cannot be deleted, as it is required by one or more "
                               "floating IPs.", kind="RouterInterfaceInUseByFloatingIP")
            if any(ipaddress.ip_address(r["nexthop"]) in c for r in router.routes or [] for c in cidrs):
                raise Conflict(f"Router interface for subnet {info['subnet_id']} on router "
                               f"{router.id} cannot be deleted, as it is required by one or more "
                               "routes.", kind="RouterInterfaceInUseByRoute")
            await s.delete(port)
            router.touch()
            await s.flush()
            return info, await self.has_dhcp(s, port.network_id)

        info, dhcp = await self.write(tx)
        if dhcp:
            await self.notify_dhcp("network_changed", info["network_id"])
        await self.notify_l3("routers_updated", router_ids=[router_id])
        return info

    async def _find_interface(self, s: AsyncSession, ctx: RequestContext, router: Router,
                              body: dict) -> Port:
        if "port_id" in body:
            port = await s.get(Port, body["port_id"])
            if port is None or port.device_id != router.id or port.device_owner != ROUTER_INTERFACE:
                raise NotFound(f"Router {router.id} does not have an interface with id "
                               f"{body['port_id']}", kind="RouterInterfaceNotFound")
            if "subnet_id" in body and body["subnet_id"] not in {a.subnet_id for a in port.fixed_ips}:
                raise NotFound(f"Router {router.id} has no interface on subnet {body['subnet_id']}",
                               kind="RouterInterfaceNotFoundForSubnet")
            return port
        subnet, _ = await self.get_subnet(s, ctx, body["subnet_id"])
        port = await s.scalar(select(Port).join(IPAllocation, IPAllocation.port_id == Port.id).where(
            Port.device_id == router.id, Port.device_owner == ROUTER_INTERFACE,
            IPAllocation.subnet_id == subnet.id).limit(1))
        if port is None:
            raise NotFound(f"Router {router.id} has no interface on subnet {subnet.id}",
                           kind="RouterInterfaceNotFoundForSubnet")
        return port

    # --- ports API hooks -----------------------------------------------------------
    async def delete_port(self, ctx: RequestContext, port_id: str) -> None:
        """The ports API's delete; the routers of the floating IPs it disassociates hear
        ``routers_updated`` after the commit (their DNAT rules go)."""
        async def routers(s: AsyncSession) -> list[str]:
            return sorted(set((await s.scalars(select(FloatingIP.router_id).where(
                FloatingIP.fixed_port_id == port_id, FloatingIP.router_id.is_not(None)))).all()))
        affected = await self.read(routers)
        await super().delete_port(ctx, port_id)
        if affected:
            await self.notify_l3("routers_updated", router_ids=affected)

    async def port_deleting(self, s: AsyncSession, port: Port) -> None:
        """409 L3PortInUse for router and floating IP ports (their APIs delete them); floating
        IPs associated with ``port`` are disassociated."""
        if port.device_owner in L3_OWNERS and port.device_id:
            raise Conflict(f"Port {port.id} cannot be deleted directly via the port API: has "
                           f"device owner {port.device_owner}.", kind="L3PortInUse")
        for fip in (await s.scalars(select(FloatingIP).where(FloatingIP.fixed_port_id == port.id))).all():
            fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
            fip.status = "DOWN"
            fip.touch()
        await super().port_deleting(s, port)


def _same_ips(port: Port, wanted: list[dict]) -> bool:
    have = {(a.subnet_id, a.ip_address) for a in port.fixed_ips}
    return all(any((w.get("subnet_id") in (None, sid)) and (w.get("ip_address") in (None, ip))
                   for sid, ip in have) for w in wanted) and len(wanted) == len(have)


def _interface_body(body, exactly_one: bool) -> dict:
    """``{"subnet_id"?, "port_id"?}`` of an add/remove interface request (400 otherwise)."""
    if not isinstance(body, dict):
        raise BadRequest("Body contains invalid data", kind="HTTPBadRequest")
    out = {k: uuid_str(k, body[k]) for k in ("subnet_id", "port_id") if body.get(k) is not None}
    if not out:
        raise bad_router("Either subnet_id or port_id must be specified")
    if exactly_one and len(out) == 2:
        raise bad_router("Cannot specify both subnet-id and port-id")
    return out
