"""Networks: create, list, show, update, delete (Networking API v2.0, "Networks").

Provider attributes ("provider" extension, admin only): ``flat`` needs a
``provider:physical_network`` known to ``[network] physical_bridges`` and takes
no segmentation id, one flat network per physical network (409
FlatNetworkInUse); ``vlan`` needs a known physical network and takes a
segmentation id 1-4094 (the lowest free one if omitted; 409 VlanIdInUse);
``local`` takes neither. A network created without provider attributes is
``local``. The MTU is 1500 unless a smaller one is asked for.
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import NotFound
from kumo.common.auth.context import RequestContext
from kumo.network import errors
from kumo.network.models import Network, Port
from kumo.network.policies import ADMIN_ATTRIBUTES
from kumo.network.service.base import AUTO_DELETE_OWNERS, ServiceBase
from kumo.network.service.views import network_view

MAX_MTU = 1500
PROVIDER_KEYS = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


class NetworksMixin(ServiceBase):
    async def _segment(self, s: AsyncSession, body: dict) -> tuple[str, str | None, int | None]:
        kind = body.get("provider:network_type")
        physnet = body.get("provider:physical_network")
        segid = body.get("provider:segmentation_id")
        bridges = self.settings.network.physical_bridges
        if kind is None:
            if physnet is not None or segid is not None:
                raise errors.invalid_input("provider:network_type required")
            return "local", None, None
        if kind == "local":
            if physnet is not None or segid is not None:
                raise errors.invalid_input("provider:physical_network and provider:segmentation_id "
                                           "are not allowed for local provider network")
            return kind, None, None
        if not physnet:
            raise errors.invalid_input(f"physical_network required for {kind} provider network")
        if physnet not in bridges:
            raise errors.invalid_input(f"physical_network '{physnet}' unknown for {kind} "
                                       "provider network")
        used = select(Network.segmentation_id).where(
            Network.network_type == kind, Network.physical_network == physnet)
        if kind == "flat":
            if segid is not None:
                raise errors.invalid_input("segmentation_id specified for flat provider network")
            if (await s.execute(used.limit(1))).first() is not None:
                raise errors.flat_in_use(physnet)
            return kind, physnet, None
        taken = {v for v in (await s.scalars(used)).all()}
        if segid is None:
            segid = next((v for v in range(1, 4095) if v not in taken), None)
            if segid is None:
                raise errors.vlan_in_use(4094, physnet)
        elif not 1 <= segid <= 4094:
            raise errors.invalid_input("segmentation_id out of range (1 through 4094)")
        elif segid in taken:
            raise errors.vlan_in_use(segid, physnet)
        return kind, physnet, segid

    def _check_admin_attrs(self, ctx: RequestContext, body: dict, op: str, target: dict) -> None:
        """``<op>_network:<attr>`` for each admin attribute given (a create's default values pass)."""
        defaults = {"shared": False, "router:external": False}
        keys = [key for key in ADMIN_ATTRIBUTES["network"] if key in body and not (
            op == "create" and key in defaults and body[key] == defaults[key])]
        self.authorize_attributes(ctx, op, "network", keys, target)

    def _network_view(self, ctx: RequestContext, net: Network) -> dict:
        return self.shown(ctx, "network", network_view(net), self.network_target(net))

    @staticmethod
    def _check_mtu(mtu: int | None) -> int:
        if mtu is None:
            return MAX_MTU
        if mtu > MAX_MTU:
            raise errors.invalid_input(f"Requested MTU is too big, maximum is {MAX_MTU}")
        return mtu

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
        mtu = self._check_mtu(body.get("mtu"))

        async def tx(s: AsyncSession) -> dict:
            kind, physnet, segid = await self._segment(s, body)
            net = Network(project_id=project, name=body["name"], description=body["description"],
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
                net.mtu = self._check_mtu(body["mtu"])
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
            busy = await s.scalar(select(Port.id).where(
                Port.network_id == net.id, Port.device_owner.notin_(AUTO_DELETE_OWNERS)).limit(1))
            if busy:
                raise errors.network_in_use(net.id)
            await s.execute(delete(Port).where(Port.network_id == net.id))
            await s.delete(net)

        await self.write(tx)
        await self.notify_dhcp("network_deleted", net_id)
