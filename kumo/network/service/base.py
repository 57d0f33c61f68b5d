"""Shared plumbing of the network service: transactions, visibility, DHCP notices.

Visibility and write rules follow neutron's default policies:

- a network is visible to its project, to everyone when ``shared`` or
  ``router:external``, and to admins; a subnet is visible when its network is;
  a port is visible to its project, to the network's project and to admins;
- invisible resources are 404 ``<Resource>NotFound``; visible ones the caller
  may not change are 403 ``PolicyNotAuthorized``; a reader (no member or admin
  role) may change nothing (403).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import Conflict
from kumo.common.auth.context import RequestContext
from kumo.common.db import Database
from kumo.config import Settings
from kumo.network import errors
from kumo.network.models import Network, Port, Subnet

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Ports the network service removes itself when their network or subnet goes.
AUTO_DELETE_OWNERS = ("network:dhcp",)
DHCP_TOPIC = "dhcp_agent"


class ServiceBase:
    """Database, settings and bus of the network service, plus common checks."""

    def __init__(self, db: Database, settings: Settings, bus):
        self.db = db
        self.settings = settings
        self.bus = bus
        # One writer at a time in this process: IP and MAC choices read then
        # insert, so they must not interleave. Other processes are kept honest by
        # the unique keys (the loser of a race retries, see write()).
        self._lock = asyncio.Lock()

    # --- transactions -----------------------------------------------------
    async def write(self, fn: Callable[[AsyncSession], Awaitable[T]], attempts: int = 5) -> T:
        """Run ``fn(session)`` in one transaction, retrying lost races.

        A unique-key violation or a busy database means another writer got
        there first; the whole transaction is replayed, so ``fn`` then sees the
        winner's rows. ApiErrors raised by ``fn`` roll back and propagate.
        """
        async with self._lock:
            for attempt in range(attempts):
                try:
                    async with self.db.session() as s:
                        return await fn(s)
                except (IntegrityError, OperationalError) as e:
                    log.info("network db write conflict (attempt %d): %s", attempt + 1, e)
                    await asyncio.sleep(0.02 * (attempt + 1))
        raise Conflict("The request conflicted with concurrent changes; try again.",
                       kind="Conflict")

    async def read(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.db.session() as s:
            return await fn(s)

    # --- rules ------------------------------------------------------------
    @staticmethod
    def require_write(ctx: RequestContext, rule: str) -> None:
        """403 unless the caller has a role that may change resources."""
        if not ctx.can_write:
            raise errors.policy(rule)

    @staticmethod
    def network_visible(ctx: RequestContext, net: Network) -> bool:
        return ctx.is_admin or net.project_id == ctx.project_id or net.shared or net.external

    @staticmethod
    def network_owner(ctx: RequestContext, net: Network) -> bool:
        return ctx.is_admin or net.project_id == ctx.project_id

    @staticmethod
    def visible_networks_clause(ctx: RequestContext):
        if ctx.is_admin:
            return None
        return or_(Network.project_id == ctx.project_id, Network.shared.is_(True),
                   Network.external.is_(True))

    async def get_network(self, s: AsyncSession, ctx: RequestContext, net_id: str) -> Network:
        """The network if ``ctx`` may see it, else 404 NetworkNotFound."""
        net = await s.get(Network, net_id)
        if net is None or not self.network_visible(ctx, net):
            raise errors.not_found("network", net_id)
        return net

    async def get_subnet(self, s: AsyncSession, ctx: RequestContext, subnet_id: str
                         ) -> tuple[Subnet, Network]:
        subnet = await s.get(Subnet, subnet_id)
        net = await s.get(Network, subnet.network_id) if subnet else None
        if subnet is None or net is None or not (
                self.network_visible(ctx, net) or subnet.project_id == ctx.project_id):
            raise errors.not_found("subnet", subnet_id)
        return subnet, net

    async def get_port(self, s: AsyncSession, ctx: RequestContext, port_id: str
                       ) -> tuple[Port, Network]:
        port = await s.get(Port, port_id)
        net = await s.get(Network, port.network_id) if port else None
        if port is None or net is None or not (
                ctx.is_admin or port.project_id == ctx.project_id or net.project_id == ctx.project_id):
            raise errors.not_found("port", port_id)
        return port, net

    async def has_dhcp(self, s: AsyncSession, net_id: str) -> bool:
        found = await s.scalar(select(Subnet.id).where(
            Subnet.network_id == net_id, Subnet.enable_dhcp.is_(True)).limit(1))
        return found is not None

    # --- DHCP agents --------------------------------------------------------
    async def write_view(self, fn: Callable[[AsyncSession], Awaitable[tuple[dict, bool]]],
                         network_id: str | None = None) -> dict:
        """:meth:`write` for ``fn`` returning ``(view, dhcp)``; tells the DHCP agents
        about the view's network (or ``network_id``) after the commit when ``dhcp``."""
        view, dhcp = await self.write(fn)
        if dhcp:
            await self.notify_dhcp("network_changed", network_id or view["network_id"])
        return view

    async def notify_dhcp(self, method: str, network_id: str) -> None:
        """Fan ``method(network_id=...)`` out to every DHCP agent; never fails the caller."""
        try:
            await self.bus.fanout(DHCP_TOPIC, method, network_id=network_id)
        except Exception:  # a missing or broken bus must not undo a committed change
            log.exception("could not notify DHCP agents of %s %s", method, network_id)
