"""Floating IPs (Networking API v2.0, "Floating IPs (floatingips)"; extension ``fip-port-details``).

A floating IP holds one IPv4 address of an external network through a port
(``device_owner`` ``network:floatingip``, ``device_id`` the floating IP's id, no
project). ``floating_ip_address`` is admin only on create. Associating it with
``port_id`` (and ``fixed_ip_address`` when the port has several IPv4 addresses)
needs a router whose gateway is on the floating IP's network and which has an
interface on the fixed address's subnet: that router becomes ``router_id`` and
the status ACTIVE; disassociated floating IPs are DOWN.

Errors: 404 FloatingIPNotFound / NetworkNotFound / PortNotFound, 404
ExternalGatewayForFloatingIPNotFound (no such router); 400 for a network that is
not external, a fixed address the port does not have, a port of another
project or of a router; 409 FloatingIPPortAlreadyAssociated (one floating IP
per fixed IP), IpAddressAlreadyAllocated / IpAddressGenerationFailure.
"""
from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import isotime, new_id
from kumo.network.compute_notifier import COMPUTE_OWNER
from kumo.network.models import FloatingIP, IPAllocation, Port, Router
from kumo.network.service.routers import FLOATINGIP_OWNER, ROUTER_INTERFACE, RoutersMixin


def bad_floatingip(reason: str) -> BadRequest:
    """400 ``BadRequest``: "Bad floatingip request: <reason>."."""
    return BadRequest(f"Bad floatingip request: {reason}.", kind="BadRequest")


def floatingip_view(fip: FloatingIP, port: Port | None) -> dict:
    """The floating IP's JSON; ``port_details`` describes the associated port (or None)."""
    details = None
    if port is not None:
        details = {"name": port.name, "network_id": port.network_id,
                   "mac_address": port.mac_address, "admin_state_up": port.admin_state_up,
                   "status": port.status, "device_id": port.device_id,
                   "device_owner": port.device_owner}
    return {
        "id": fip.id,
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id,
        "router_id": fip.router_id,
        "port_id": fip.fixed_port_id,
        "fixed_ip_address": fip.fixed_ip_address,
        "status": fip.status,
        "tenant_id": fip.project_id,
        "project_id": fip.project_id,
        "port_details": details,
        "description": fip.description,
        "tags": list(fip.tags or []),
        "created_at": isotime(fip.created_at),
        "updated_at": isotime(fip.updated_at),
        "revision_number": fip.revision_number,
    }


class FloatingIPsMixin(RoutersMixin):
    #: a :class:`~kumo.network.compute_notifier.ComputeNotifier` (the API component sets it)
    compute_notifier = None

    @staticmethod
    async def _server_ports(s: AsyncSession, *port_ids: str | None) -> list[tuple[str, str]]:
        """``(server uuid, port id)`` of those ports that belong to a server."""
        out = []
        for port_id in port_ids:
            port = await s.get(Port, port_id) if port_id else None
            if port is not None and port.device_id and port.device_owner.startswith(COMPUTE_OWNER):
                out.append((port.device_id, port.id))
        return out

    def _tell_compute(self, ports: list[tuple[str, str]]) -> None:
        if self.compute_notifier is not None:
            self.compute_notifier.network_changed(ports)

    @staticmethod
    def floatingip_target(fip: FloatingIP) -> dict:
        return {"id": fip.id, "project_id": fip.project_id}

    async def get_floatingip(self, s: AsyncSession, ctx: RequestContext, fip_id: str) -> FloatingIP:
        """The floating IP if ``get_floatingip`` allows the caller, else 404 FloatingIPNotFound."""
        fip = await s.get(FloatingIP, fip_id)
        if fip is None or not self.allowed(ctx, "get_floatingip", self.floatingip_target(fip)):
            raise NotFound(f"Floating IP {fip_id} could not be found", kind="FloatingIPNotFound")
        return fip

    async def _floatingip_view(self, s: AsyncSession, fip: FloatingIP) -> dict:
        port = await s.get(Port, fip.fixed_port_id) if fip.fixed_port_id else None
        return floatingip_view(fip, port)

    async def _associate(self, s: AsyncSession, ctx: RequestContext, fip: FloatingIP,
                         port_id: str, fixed_ip: str | None) -> None:
        """Point ``fip`` at ``port_id``'s fixed address (see the module doc for the errors)."""
        port, _ = await self.get_port(s, ctx, port_id)
        if port.device_owner.startswith("network:"):
            raise bad_floatingip(f"Port {port.id} has owner {port.device_owner} and cannot have "
                                 "a floating IP")
        if port.project_id != fip.project_id and not self.admin(ctx):
            raise bad_floatingip(f"Cannot create floating IP and bind it to Port {port.id}, since "
                                 "that port is owned by a different tenant")
        v4 = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
        if fixed_ip is not None:
            alloc = next((a for a in port.fixed_ips if a.ip_address == fixed_ip), None)
            if alloc is None:
                raise bad_floatingip(f"Port {port.id} does not have fixed ip {fixed_ip}")
        elif not v4:
            raise bad_floatingip(f"No IPv4 addresses found on port {port.id}")
        elif len(v4) > 1:
            raise bad_floatingip(f"Port {port.id} has multiple fixed IPv4 addresses. Must provide "
                                 "a specific IPv4 address when assigning a floating IP")
        else:
            alloc = v4[0]
        router_id = await s.scalar(
            select(Router.id).join(Port, Port.device_id == Router.id)
            .join(IPAllocation, IPAllocation.port_id == Port.id)
            .where(Router.gw_network_id == fip.floating_network_id,
                   Port.device_owner == ROUTER_INTERFACE, IPAllocation.subnet_id == alloc.subnet_id)
            .order_by(Router.created_at).limit(1))
        if router_id is None:
            raise NotFound(f"External network {fip.floating_network_id} is not reachable from "
                           f"subnet {alloc.subnet_id}.  Therefore, cannot associate Port {port.id} "
                           "with a Floating IP.", kind="ExternalGatewayForFloatingIPNotFound")
        taken = await s.scalar(select(FloatingIP.id).where(
            FloatingIP.fixed_port_id == port.id, FloatingIP.fixed_ip_address == alloc.ip_address,
            FloatingIP.id != fip.id).limit(1))
        if taken:
            raise Conflict(f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) "
                           f"with port {port.id} using fixed IP {alloc.ip_address}, as that fixed "
                           f"IP already has a floating IP on external network "
                           f"{fip.floating_network_id}.", kind="FloatingIPPortAlreadyAssociated")
        fip.fixed_port_id, fip.fixed_ip_address, fip.router_id = port.id, alloc.ip_address, router_id
        fip.status = "ACTIVE"

    @staticmethod
    def _disassociate(fip: FloatingIP) -> None:
        fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
        fip.status = "DOWN"

    async def create_floatingip(self, ctx: RequestContext, body: dict) -> dict:
        """Allocate a floating IP on ``floating_network_id`` (optionally ``subnet_id``,
        ``floating_ip_address``) and associate it when ``port_id`` is given; its view."""
        project = body.pop("project_id", None) or ctx.project_id
        target = {"project_id": project}
        self.authorize(ctx, "create_floatingip", target)
        if body.get("floating_ip_address") is not None:
            self.authorize(ctx, "create_floatingip:floating_ip_address", target)

        async def tx(s: AsyncSession) -> dict:
            await self.check_quota(s, ctx, "floatingip", project_id=project)
            net = await self.get_network(s, ctx, body["floating_network_id"])
            if not net.external:
                raise bad_floatingip(f"Network {net.id} is not a valid external network")
            if body.get("subnet_id") and body["subnet_id"] not in {x.id for x in net.subnets}:
                raise bad_floatingip(f"Subnet {body['subnet_id']} is not on network {net.id}")
            wanted = {k: body[k] for k in ("subnet_id",) if body.get(k)}
            if body.get("floating_ip_address") is not None:
                wanted["ip_address"] = body["floating_ip_address"]
            v4 = [x for x in net.subnets if x.ip_version == 4]
            if not wanted and not v4:
                raise bad_floatingip(f"Network {net.id} has no IPv4 subnet")
            fip = FloatingIP(id=new_id(), project_id=project, floating_network_id=net.id,
                             description=body["description"], tags=body["tags"])
            port = await self.allocate_port(s, net, "", [wanted or {"subnet_id": v4[0].id}],
                                            device_owner=FLOATINGIP_OWNER, device_id=fip.id)
            fip.floating_port_id = port.id
            fip.floating_ip_address = port.fixed_ips[0].ip_address
            if body.get("port_id"):
                await self._associate(s, ctx, fip, body["port_id"], body.get("fixed_ip_address"))
            s.add(fip)
            await s.flush()
            return await self._floatingip_view(s, fip), await self._server_ports(s, fip.fixed_port_id)

        view, servers = await self.write(tx)
        if view["router_id"]:
            await self.notify_l3("routers_updated", router_ids=[view["router_id"]])
        self._tell_compute(servers)
        return view

    async def list_floatingips(self, ctx: RequestContext) -> list[dict]:
        """Views of the floating IPs ``get_floatingip`` shows the caller (its project's; admins
        all)."""
        async def tx(s: AsyncSession) -> list[dict]:
            q = select(FloatingIP).order_by(FloatingIP.id)
            if not self.admin(ctx):
                q = q.where(FloatingIP.project_id == ctx.project_id)
            fips = [f for f in (await s.scalars(q)).all()
                    if self.allowed(ctx, "get_floatingip", self.floatingip_target(f))]
            ids = [f.fixed_port_id for f in fips if f.fixed_port_id]
            ports = {p.id: p for p in (await s.scalars(select(Port).where(Port.id.in_(ids)))).all()}
            return [floatingip_view(f, ports.get(f.fixed_port_id or "")) for f in fips]
        return await self.read(tx)

    async def show_floatingip(self, ctx: RequestContext, fip_id: str) -> dict:
        async def tx(s: AsyncSession) -> dict:
            return await self._floatingip_view(s, await self.get_floatingip(s, ctx, fip_id))
        return await self.read(tx)

    async def update_floatingip(self, ctx: RequestContext, fip_id: str, body: dict) -> dict:
        """``port_id`` (None disassociates), ``fixed_ip_address``, ``description``; the view."""
        async def tx(s: AsyncSession) -> tuple[dict, set, list]:
            fip = await self.get_floatingip(s, ctx, fip_id)
            self.authorize(ctx, "update_floatingip", self.floatingip_target(fip))
            routers, before = {fip.router_id}, fip.fixed_port_id
            port_id = body["port_id"] if "port_id" in body else (
                fip.fixed_port_id if "fixed_ip_address" in body else None)
            if port_id:
                await self._associate(s, ctx, fip, port_id, body.get("fixed_ip_address"))
            elif "port_id" in body:
                self._disassociate(fip)
            if "description" in body:
                fip.description = body["description"]
            routers.add(fip.router_id)
            fip.touch()
            await s.flush()
            servers = await self._server_ports(s, *{before, fip.fixed_port_id} - {None}) \
                if before != fip.fixed_port_id else []
            return await self._floatingip_view(s, fip), routers - {None}, servers

        view, routers, servers = await self.write(tx)
        if routers:
            await self.notify_l3("routers_updated", router_ids=sorted(routers))
        self._tell_compute(servers)
        return view

    async def update_floatingip_statuses(self, router_id: str, statuses: dict[str, str]) -> int:
        """An L3 agent's report for ``router_id``: floating IP id -> ``ACTIVE`` (wired) or
        ``DOWN`` (the router is not wired anywhere); ids no longer associated with that router
        are left alone (the report raced a change). How many changed."""
        async def tx(s: AsyncSession) -> int:
            changed = 0
            for fip in (await s.scalars(select(FloatingIP).where(
                    FloatingIP.id.in_(list(statuses)), FloatingIP.router_id == router_id))).all():
                if statuses[fip.id] in ("ACTIVE", "DOWN") and fip.status != statuses[fip.id]:
                    fip.status = statuses[fip.id]
                    changed += 1
            return changed
        return await self.write(tx)

    async def network_deleting(self, s: AsyncSession, net) -> None:
        """Deleting an external network releases its unassociated floating IPs (associated
        ones keep it in use: 409 NetworkInUse)."""
        for fip in (await s.scalars(select(FloatingIP).where(
                FloatingIP.floating_network_id == net.id, FloatingIP.fixed_port_id.is_(None)))).all():
            port = await s.get(Port, fip.floating_port_id)
            if port is not None:
                await s.delete(port)
            await s.delete(fip)
        await s.flush()
        await super().network_deleting(s, net)

    async def delete_floatingip(self, ctx: RequestContext, fip_id: str) -> None:
        """Release a floating IP and its address. 404 if invisible, 403 for readers."""
        async def tx(s: AsyncSession) -> tuple[str | None, list]:
            fip = await self.get_floatingip(s, ctx, fip_id)
            self.authorize(ctx, "delete_floatingip", self.floatingip_target(fip))
            servers = await self._server_ports(s, fip.fixed_port_id)
            port = await s.get(Port, fip.floating_port_id)
            if port is not None:
                await s.delete(port)
            await s.delete(fip)
            return fip.router_id, servers

        router_id, servers = await self.write(tx)
        if router_id:
            await self.notify_l3("routers_updated", router_ids=[router_id])
        self._tell_compute(servers)
