"""Subnets: create, list, show, update, delete (Networking API v2.0, "Subnets").

A subnet's CIDR must be a network address (``10.0.0.0/24``), match
``ip_version`` and not overlap another subnet of the same network (400). The
gateway defaults to the first host address (``null`` means none) and must be an
assignable address of the CIDR (400). Allocation pools default to the host
range minus the gateway; pools outside the CIDR are 400, pools overlapping each
other or the gateway 409 (neutron's OverlappingAllocationPools and
GatewayConflictWithAllocationPools). Without ``cidr``, a subnet is carved from the
pool named by ``subnetpool_id`` (with ``prefixlen``) or the default pool of its IP
version (``use_default_subnetpool``): see :mod:`kumo.network.service.subnetpools`.
"""
from __future__ import annotations

import ipaddress

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest
from kumo.common.auth.context import RequestContext
from kumo.network import errors, ipam
from kumo.network.models import IPAllocation, Network, Port, Subnet
from kumo.network.service.base import AUTO_DELETE_OWNERS
from kumo.network.service.subnetpools import SubnetPoolsMixin
from kumo.network.service.views import subnet_view


def _check_versions(version: int, body: dict) -> None:
    for ip in body.get("dns_nameservers") or []:
        if ipaddress.ip_address(ip).version != version:
            raise errors.invalid_input(f"dns_nameserver '{ip}' does not match the ip_version "
                                       f"'{version}'")
    for route in body.get("host_routes") or []:
        if ipaddress.ip_network(route["destination"]).version != version or \
                ipaddress.ip_address(route["nexthop"]).version != version:
            raise errors.invalid_input(f"Host route {route} does not match the ip_version "
                                       f"'{version}'")


def _check_ipv6_modes(version: int, body: dict) -> None:
    """``ipv6_ra_mode`` / ``ipv6_address_mode``: IPv6 only, and equal when both are set (400)."""
    ra, address = body.get("ipv6_ra_mode"), body.get("ipv6_address_mode")
    if (ra or address) and version != 6:
        raise errors.invalid_input("ipv6_ra_mode or ipv6_address_mode cannot be set when "
                                   "ip_version is 4")
    if ra and address and ra != address:
        raise errors.invalid_input(f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to "
                                   f"'{address}' is not valid. If both attributes are set, they "
                                   "must be the same value")


def _geometry(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network, body: dict) -> tuple:
    """(gateway, allocation pools) of a new subnet on ``cidr``; 400/409 for attributes that
    do not fit it (versions, IPv6 modes, gateway, pools)."""
    _check_versions(cidr.version, body)
    _check_ipv6_modes(cidr.version, body)
    if "gateway_ip" in body:
        gateway = ipam.check_gateway(cidr, body["gateway_ip"])
    else:
        gateway = ipam.default_gateway(cidr)
    if body.get("allocation_pools") is not None:
        return gateway, ipam.check_pools(cidr, body["allocation_pools"], gateway)
    return gateway, ipam.default_pools(cidr, gateway)


class SubnetsMixin(SubnetPoolsMixin):
    async def create_subnet(self, ctx: RequestContext, body: dict) -> dict:
        """Create a subnet from a parsed body; its view.

        404 NetworkNotFound for an invisible network; 403 for readers and for
        other projects' networks (admins excepted); 400/409 as in the module doc.
        """
        pooled = bool(body.get("subnetpool_id") or body.get("use_default_subnetpool"))
        if not pooled and not body.get("cidr"):
            raise BadRequest("A cidr must be specified in the absence of a subnet pool",
                             kind="HTTPBadRequest")
        given_cidr = None if pooled else ipam.parse_cidr(body["cidr"], body.get("ip_version"))
        project = body.pop("project_id", None) or ctx.project_id
        self.authorize_create(ctx, "create_subnet", project)
        given = _geometry(given_cidr, body) if given_cidr is not None else None

        async def tx(s: AsyncSession) -> dict:
            net = await self.get_network(s, ctx, body["network_id"])
            self.authorize(ctx, "create_subnet", self.child_target(project, net))
            await self.check_quota(s, ctx, "subnet", 1, project)
            if pooled:  # the CIDR comes from the pool (kumo.network.service.subnetpools)
                cidr, link = await self.allocate_from_pool(s, ctx, body, project)
                gateway, pools = _geometry(cidr, body)
            else:
                cidr, link, (gateway, pools) = given_cidr, None, given
            version = cidr.version
            for other in net.subnets:
                if ipaddress.ip_network(other.cidr).overlaps(cidr):
                    raise errors.invalid_input(
                        f"Requested subnet with cidr: {cidr} for network: {net.id} overlaps "
                        "with another subnet")
            subnet = Subnet(project_id=project, network_id=net.id, name=body["name"],
                            description=body["description"], ip_version=version, cidr=str(cidr),
                            gateway_ip=gateway, allocation_pools=pools,
                            dns_nameservers=body["dns_nameservers"], host_routes=body["host_routes"],
                            enable_dhcp=body["enable_dhcp"], ipv6_ra_mode=body.get("ipv6_ra_mode"),
                            ipv6_address_mode=body.get("ipv6_address_mode"), tags=body["tags"],
                            pool_link=link)
            net.subnets.append(subnet)
            net.touch()
            await s.flush()
            return subnet_view(subnet)

        view = await self.write(tx)
        await self.notify_dhcp("network_changed", view["network_id"])
        return view

    async def list_subnets(self, ctx: RequestContext) -> list[dict]:
        """Views of every subnet ``ctx`` may see (scope, then ``get_subnet``), sorted by id."""
        async def tx(s: AsyncSession) -> list[dict]:
            q = select(Subnet, Network).join(Network, Network.id == Subnet.network_id).order_by(Subnet.id)
            clause = self.scope_clause(ctx)
            if clause is not None:
                q = q.where(or_(clause, Subnet.project_id == ctx.project_id))
            return [subnet_view(x) for x, n in (await s.execute(q)).all()
                    if self.allowed(ctx, "get_subnet", self.child_target(x.project_id, n))]
        return await self.read(tx)

    async def show_subnet(self, ctx: RequestContext, subnet_id: str) -> dict:
        async def tx(s: AsyncSession) -> dict:
            return subnet_view((await self.get_subnet(s, ctx, subnet_id))[0])
        return await self.read(tx)

    async def update_subnet(self, ctx: RequestContext, subnet_id: str, body: dict) -> dict:
        """Apply a parsed PUT body (name, description, gateway_ip, allocation_pools,
        dns_nameservers, host_routes, enable_dhcp); the new view. 404/403/400/409."""
        async def tx(s: AsyncSession) -> dict:
            subnet, net = await self.get_subnet(s, ctx, subnet_id)
            self.authorize(ctx, "update_subnet", self.child_target(subnet.project_id, net))
            cidr = ipaddress.ip_network(subnet.cidr)
            _check_versions(cidr.version, body)
            gateway = subnet.gateway_ip
            if "gateway_ip" in body:
                gateway = ipam.check_gateway(cidr, body["gateway_ip"])
            pools = subnet.allocation_pools
            if body.get("allocation_pools") is not None:
                pools = ipam.check_pools(cidr, body["allocation_pools"], gateway)
            elif "gateway_ip" in body:
                pools = ipam.check_pools(cidr, pools, gateway)
            subnet.gateway_ip, subnet.allocation_pools = gateway, pools
            for key in ("name", "description", "dns_nameservers", "host_routes", "enable_dhcp"):
                if key in body:
                    setattr(subnet, key, body[key])
            subnet.touch()
            await s.flush()
            return subnet_view(subnet)

        view = await self.write(tx)
        await self.notify_dhcp("network_changed", view["network_id"])
        return view

    async def delete_subnet(self, ctx: RequestContext, subnet_id: str) -> None:
        """Delete a subnet; its DHCP ports lose their address in it.

        404 if invisible; 403 for readers and non-owners; 409 SubnetInUse while
        other ports hold addresses in it (on a SLAAC / DHCPv6-stateless subnet only
        router ports count: other ports lose their EUI-64 address).
        """
        async def tx(s: AsyncSession) -> str:
            subnet, net = await self.get_subnet(s, ctx, subnet_id)
            self.authorize(ctx, "delete_subnet", self.child_target(subnet.project_id, net))
            rows = (await s.execute(
                select(IPAllocation, Port.device_owner).join(Port, Port.id == IPAllocation.port_id)
                .where(IPAllocation.subnet_id == subnet.id))).all()
            # Addresses hosts make themselves (SLAAC) go with the subnet, except a router's.
            auto = subnet.ipv6_address_mode in ipam.AUTO_ADDRESS_MODES
            if any(owner not in AUTO_DELETE_OWNERS and
                   not (auto and not owner.startswith("network:router_")) for _, owner in rows):
                raise errors.subnet_in_use(subnet.id)
            for alloc, _ in rows:
                await s.delete(alloc)
            await s.flush()
            net.subnets.remove(subnet)
            net.touch()
            return net.id

        net_id = await self.write(tx)
        await self.notify_dhcp("network_changed", net_id)
