"""Ports: create, list, show, update, delete (Networking API v2.0, "Ports").

Addresses come from :mod:`kumo.network.ipam` inside the port's write
transaction. MAC addresses are ``fa:16:3e:xx:xx:xx``, unique per network.
A port with ``binding:host_id`` is bound by the linuxbridge mechanism
(:meth:`~kumo.network.service.segments.SegmentsMixin.bind_port`): vif_type
"bridge" with ``binding:vif_details.bridge_name``, or "binding_failed" when the
host cannot serve the network; an unbound port has vif_type "unbound", DOWN.

Admin-only inputs (neutron's default policy): ``binding:host_id`` and
``binding:profile``; changing ``mac_address``. Only the network's project or an
admin may choose ``mac_address`` or ``fixed_ips[].ip_address`` on create, or use
a ``network:*`` ``device_owner``.
"""
from __future__ import annotations

import random

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import Conflict
from kumo.common.auth.context import RequestContext
from kumo.network import errors, ipam
from kumo.network.models import IPAllocation, Network, Port
from kumo.network.service.base import ServiceBase
from kumo.network.service.views import port_view

MAC_PREFIX = "fa:16:3e"
SIMPLE_FIELDS = {"name": "name", "description": "description", "admin_state_up": "admin_state_up",
                 "device_id": "device_id", "device_owner": "device_owner",
                 "binding:host_id": "binding_host_id", "binding:profile": "binding_profile",
                 "binding:vnic_type": "binding_vnic_type",
                 "port_security_enabled": "port_security_enabled",
                 "allowed_address_pairs": "allowed_address_pairs",
                 "extra_dhcp_opts": "extra_dhcp_opts", "dns_name": "dns_name"}


def random_mac() -> str:
    return MAC_PREFIX + "".join(f":{random.randrange(256):02x}" for _ in range(3))


class PortsMixin(ServiceBase):
    def _port_view(self, ctx: RequestContext, port: Port, net: Network) -> dict:
        return self.shown(ctx, "port", port_view(port, self.settings.network.dns_domain),
                          self.port_target(port, net))

    async def _subnet_infos(self, s: AsyncSession, net: Network,
                            exclude_port: str | None = None) -> list[ipam.SubnetInfo]:
        q = select(IPAllocation.subnet_id, IPAllocation.ip_address).where(
            IPAllocation.network_id == net.id)
        if exclude_port:
            q = q.where(IPAllocation.port_id != exclude_port)
        used: dict[str, set[str]] = {}
        for subnet_id, ip in (await s.execute(q)).all():
            used.setdefault(subnet_id, set()).add(ip)
        return [ipam.SubnetInfo(id=x.id, cidr=x.cidr, ip_version=x.ip_version,
                                allocation_pools=list(x.allocation_pools or []),
                                used=used.get(x.id, set()),
                                auto_address=x.ipv6_address_mode in ipam.AUTO_ADDRESS_MODES)
                for x in net.subnets]

    async def _mac_free(self, s: AsyncSession, net_id: str, mac: str) -> bool:
        found = await s.scalar(select(Port.id).where(Port.network_id == net_id,
                                                     Port.mac_address == mac).limit(1))
        return found is None

    async def _new_mac(self, s: AsyncSession, net_id: str) -> str:
        for _ in range(16):
            mac = random_mac()
            if await self._mac_free(s, net_id, mac):
                return mac
        raise Conflict(f"Unable to generate unique mac on network {net_id}.",
                       kind="MacAddressGenerationFailure")

    async def allocate_port(self, s: AsyncSession, net: Network, project: str,
                            fixed_ips: list[dict] | None, mac: str | None = None,
                            **columns) -> Port:
        """A new bound port on ``net`` (added and flushed in ``s``): a MAC (``mac`` or a free
        random one), addresses planned by :func:`kumo.network.ipam.plan` from ``fixed_ips``
        (None: the default one), then ``columns`` (Port attributes). 409 MacAddressInUse,
        IpAddressAlreadyAllocated, IpAddressGenerationFailure; 400 for bad addresses."""
        if mac is None:
            mac = await self._new_mac(s, net.id)
        elif not await self._mac_free(s, net.id, mac):
            raise errors.mac_in_use(net.id, mac)
        planned = ipam.plan(net.id, await self._subnet_infos(s, net), fixed_ips, mac=mac)
        port = Port(project_id=project, network_id=net.id, mac_address=mac, fixed_ips=[],
                    **columns)
        for subnet_id, ip in planned:
            port.fixed_ips.append(IPAllocation(subnet_id=subnet_id, network_id=net.id,
                                               ip_address=ip))
        await self.bind_port(s, port, net)
        s.add(port)
        await s.flush()
        return port

    def _check_attrs(self, ctx: RequestContext, body: dict, op: str, target: dict) -> None:
        """``<op>_port:<attr>`` for the guarded inputs given: binding:host_id and binding:profile
        (a create's empty values pass), mac_address, fixed_ips[].ip_address, a network:*
        device_owner."""
        create = op == "create"
        keys = [k for k in ("binding:host_id", "binding:profile")
                if body.get(k) or (not create and k in body)]
        if "mac_address" in body:
            keys.append("mac_address")
        if any("ip_address" in f for f in body.get("fixed_ips") or []):
            keys.append("fixed_ips:ip_address")
        if (body.get("device_owner") or "").startswith("network:"):
            keys.append("device_owner")
        self.authorize_attributes(ctx, op, "port", keys, target)

    async def create_port(self, ctx: RequestContext, body: dict) -> dict:
        """Create a port from a parsed body; its view (admins also see binding:*).

        404 NetworkNotFound; 403 for readers, other projects' unshared networks
        and owner/admin-only inputs; 400 for a bad or foreign address; 409
        MacAddressInUse, IpAddressAlreadyAllocated, IpAddressGenerationFailure.
        """
        project = body.pop("project_id", None) or ctx.project_id
        self.authorize_create(ctx, "create_port", project)

        async def tx(s: AsyncSession) -> tuple[dict, bool]:
            net = await self.get_network(s, ctx, body["network_id"])
            target = self.child_target(project, net, device_owner=body.get("device_owner", ""))
            self.authorize(ctx, "create_port", target)
            self._check_attrs(ctx, body, "create", target)
            await self.check_quota(s, ctx, "port", 1, project)
            bindings = await self.port_security_create(s, ctx, project, net, body)
            columns = {"port_security_enabled": net.port_security_enabled, "tags": body["tags"],
                       "security_group_bindings": bindings}
            columns.update({column: body[key] for key, column in SIMPLE_FIELDS.items() if key in body})
            port = await self.allocate_port(s, net, project, body.get("fixed_ips"),
                                            body.get("mac_address"), **columns)
            notice[:] = [port.id] if bindings else []
            return self._port_view(ctx, port, net), await self.has_dhcp(s, net.id)

        notice: list[str] = []
        view = await self.write_view(tx)
        await self.notify_security_groups(notice)
        return view

    async def list_ports(self, ctx: RequestContext) -> list[dict]:
        """Views of every port ``ctx`` may see (scoped to its project's ports and its networks'
        ports, then ``get_port``), sorted by id."""
        async def tx(s: AsyncSession) -> list[dict]:
            q = select(Port, Network).join(Network, Network.id == Port.network_id).order_by(Port.id)
            if not self.admin(ctx):
                q = q.where(or_(Port.project_id == ctx.project_id, Network.project_id == ctx.project_id))
            return [self._port_view(ctx, p, n) for p, n in (await s.execute(q)).all()
                    if self.allowed(ctx, "get_port", self.port_target(p, n))]
        return await self.read(tx)

    async def show_port(self, ctx: RequestContext, port_id: str) -> dict:
        async def tx(s: AsyncSession) -> dict:
            return self._port_view(ctx, *(await self.get_port(s, ctx, port_id)))
        return await self.read(tx)

    async def update_port(self, ctx: RequestContext, port_id: str, body: dict) -> dict:
        """Apply a parsed PUT body; the new view.

        ``fixed_ips`` replaces the port's addresses: an entry naming a current
        address, or only a subnet where the port has one, keeps it. 404/403/400/409
        as for create; 409 PortBound when changing the MAC of a bound port.
        """
        async def tx(s: AsyncSession) -> tuple[dict, bool]:
            port, net = await self.get_port(s, ctx, port_id)
            target = self.port_target(port, net)
            self.authorize(ctx, "update_port", target)
            self._check_attrs(ctx, body, "update", target)
            notice[:] = await self.port_security_update(s, ctx, port, body)
            if "mac_address" in body and body["mac_address"] != port.mac_address:
                if port.binding_vif_type not in ("unbound", "binding_failed"):
                    raise Conflict(f"Unable to complete operation on port {port.id}, port is "
                                   f"already bound, port type: {port.binding_vif_type}, old_mac "
                                   f"{port.mac_address}, new_mac {body['mac_address']}.",
                                   kind="PortBound")
                if not await self._mac_free(s, net.id, body["mac_address"]):
                    raise errors.mac_in_use(net.id, body["mac_address"])
                port.mac_address = body["mac_address"]
            if "fixed_ips" in body:
                infos = await self._subnet_infos(s, net, exclude_port=port.id)
                keep = [(a.subnet_id, a.ip_address) for a in port.fixed_ips]
                planned = ipam.plan(net.id, infos, body["fixed_ips"], keep, mac=port.mac_address)
                for alloc in list(port.fixed_ips):
                    if (alloc.subnet_id, alloc.ip_address) not in planned:
                        port.fixed_ips.remove(alloc)
                await s.flush()  # free removed addresses before inserting new ones
                have = {(a.subnet_id, a.ip_address) for a in port.fixed_ips}
                for subnet_id, ip in planned:
                    if (subnet_id, ip) not in have:
                        port.fixed_ips.append(IPAllocation(subnet_id=subnet_id, network_id=net.id,
                                                           ip_address=ip))
            for key, column in SIMPLE_FIELDS.items():
                if key in body:
                    setattr(port, column, body[key])
            await self.bind_port(s, port, net)
            port.touch()
            await s.flush()
            return self._port_view(ctx, port, net), await self.has_dhcp(s, net.id)

        notice: list[str] = []
        view = await self.write_view(tx)
        await self.notify_security_groups(notice)
        if "admin_state_up" in body:  # the L2 agent takes the device out of (or back into) its bridge
            await self.notify_l2("port_changed", port_id=port_id)
        return view

    async def port_deleting(self, s: AsyncSession, port: Port) -> None:
        """Hook run before the API deletes ``port``; the L3 mixin overrides it (409 for router
        and floating IP ports, floating IPs of the port are disassociated)."""

    async def delete_port(self, ctx: RequestContext, port_id: str) -> None:
        """Delete a port and free its addresses. 404 if invisible, 403 for readers."""
        async def tx(s: AsyncSession) -> tuple[str, bool]:
            port, net = await self.get_port(s, ctx, port_id)
            self.authorize(ctx, "delete_port", self.port_target(port, net))
            await self.port_deleting(s, port)
            groups = [b.security_group_id for b in port.security_group_bindings]
            await s.delete(port)
            await s.flush()
            notice[:] = await self.affected_ports(s, groups)
            return net.id, await self.has_dhcp(s, net.id)

        notice: list[str] = []
        net_id, dhcp = await self.write(tx)
        await self.notify_security_groups(notice)
        if dhcp:
            await self.notify_dhcp("network_changed", net_id)
