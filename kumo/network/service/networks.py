"""Networks: create, list, show, update, delete (Networking API v2.0, "Networks").

Provider attributes ("provider" extension, admin only) and the segment of a
project network come from the type drivers (:mod:`kumo.network.service.segments`:
flat, vlan, vxlan, local; project networks vxlan by default, MTU 1450). The
MTU is the type's maximum unless a smaller one is asked for ("net-mtu-writable").
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import new_id
from kumo.network import errors
from kumo.network.models import Network, Port
from kumo.network.policies import ADMIN_ATTRIBUTES
from kumo.network.service.base import AUTO_DELETE_OWNERS
from kumo.network.service.segments import SegmentsMixin
from kumo.network.service.views import network_view

PROVIDER_KEYS = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


class NetworksMixin(SegmentsMixin):
    def _check_admin_attrs(self, ctx: RequestContext, body: dict, op: str, target: dict) -> None:
        """``<op>_network:<attr>`` for each admin attribute given (a create's default values pass)."""
        defaults = {"shared": False, "router:external": False}
        keys = [key for key in ADMIN_ATTRIBUTES["network"] if key in body and not (
            op == "create" and key in defaults and body[key] == defaults[key])]
        self.authorize_attributes(ctx, op, "network", keys, target)

    def _network_view(self, ctx: RequestContext, net: Network) -> dict:
        return self.shown(ctx, "network", network_view(net), self.network_target(net))

    async def create_network(self, ctx: RequestContext, body: dict) -> dict:
        """Create a network from a parsed body (:func:`kumo.network.schemas.parse`); its view.

        403 for readers, for other projects' networks and for admin-only
        attributes; 400 for bad provider attributes or MTU; 409 for a physical
        network or VLAN already in use.
        """
        project = body.pop("project_id", None) or ctx.project_id
        target = {"project_id": project, "shared": body.get("shared", False),
                  "router:external": body.get("router:external", False)}
        self.authorize(ctx, "create_network", target)
        self._check_admin_attrs(ctx, body, "create", target)
        if body.get("availability_zone_hints"):
            zone = body["availability_zone_hints"][0]
            raise NotFound(f"AvailabilityZone {zone} could not be found.",
                           kind="AvailabilityZoneNotFound")

        async def tx(s: AsyncSession) -> dict:
            await self.check_quota(s, ctx, "network", 1, project)
            net_id = new_id()
            kind, physnet, segid = await self.allocate_segment(s, body, net_id)
            mtu = self.check_mtu(kind, body.get("mtu"))
            net = Network(id=net_id, project_id=project, name=body["name"], description=body["description"],
                          admin_state_up=body["admin_state_up"], shared=body["shared"],
                          external=body["router:external"], mtu=mtu, network_type=kind,
                          physical_network=physnet, segmentation_id=segid,
                          port_security_enabled=body["port_security_enabled"],
                          availability_zone_hints=[], tags=body["tags"], subnets=[])
            s.add(net)
            await s.flush()
            return self._network_view(ctx, net)

        return await self.write(tx)

    async def list_networks(self, ctx: RequestContext) -> list[dict]:
        """Views of every network ``ctx`` may see (scope, then ``get_network``), sorted by id."""
        async def tx(s: AsyncSession) -> list[dict]:
            q = select(Network).order_by(Network.id)
            clause = self.scope_clause(ctx)
            if clause is not None:
                q = q.where(clause)
            return [self._network_view(ctx, n) for n in (await s.scalars(q)).all()
                    if self.allowed(ctx, "get_network", self.network_target(n))]
        return await self.read(tx)

    async def show_network(self, ctx: RequestContext, net_id: str) -> dict:
        """One network's view; 404 NetworkNotFound if ``ctx`` cannot see it."""
        async def tx(s: AsyncSession) -> dict:
            return self._network_view(ctx, await self.get_network(s, ctx, net_id))
        return await self.read(tx)

    async def update_network(self, ctx: RequestContext, net_id: str, body: dict) -> dict:
        """Apply a parsed PUT body; the new view.

        404 if invisible; 403 for readers, non-owners and admin-only
        attributes; 400 for changed provider attributes or a too-big MTU;
        409 InvalidSharedSetting when unsharing a network other projects use.
        """
        async def tx(s: AsyncSession) -> tuple[dict, bool]:
            net = await self.get_network(s, ctx, net_id)
            target = self.network_target(net)
            self.authorize(ctx, "update_network", target)
            self._check_admin_attrs(ctx, body, "update", target)
            current = {"provider:network_type": net.network_type,
                       "provider:physical_network": net.physical_network,
                       "provider:segmentation_id": net.segmentation_id}
            for key in PROVIDER_KEYS:
                if key in body and body[key] != current[key]:
                    raise errors.invalid_input("Plugin does not support updating provider "
                                               "attributes")
            if body.get("shared") is False and net.shared:
                others = await s.scalar(select(Port.id).where(
                    Port.network_id == net.id, Port.project_id != net.project_id,
                    Port.device_owner.notin_(AUTO_DELETE_OWNERS)).limit(1))
                if others:
                    raise errors.shared_in_use(net.id)
            if "mtu" in body:
                net.mtu = self.check_mtu(net.network_type, body["mtu"])
            simple = {"name": "name", "description": "description", "admin_state_up": "admin_state_up",
                      "shared": "shared", "router:external": "external",
                      "port_security_enabled": "port_security_enabled"}
            for key, column in simple.items():
                if key in body:
                    setattr(net, column, body[key])
            net.touch()
            await s.flush()
            return self._network_view(ctx, net), await self.has_dhcp(s, net.id)

        return await self.write_view(tx, net_id)

    async def delete_network(self, ctx: RequestContext, net_id: str) -> None:
        """Delete a network with its subnets and DHCP ports.

        404 if invisible; 403 for readers and non-owners; 409 NetworkInUse
        while other ports remain.
        """
        async def tx(s: AsyncSession) -> None:
            net = await self.get_network(s, ctx, net_id)
            self.authorize(ctx, "delete_network", self.network_target(net))
            await self.network_deleting(s, net)
            busy = await s.scalar(select(Port.id).where(
                Port.network_id == net.id, Port.device_owner.notin_(AUTO_DELETE_OWNERS)).limit(1))
            if busy:
                raise errors.network_in_use(net.id)
            await s.execute(delete(Port).where(Port.network_id == net.id))
            await self.release_segment(s, net.id)
            await s.delete(net)

        await self.write(tx)
        await self.notify_dhcp("network_deleted", net_id)
