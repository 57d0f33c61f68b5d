"""Shared plumbing of the network service: transactions, visibility, DHCP notices.

Visibility and write rules are the policy's (:mod:`kumo.network.policies`,
neutron's defaults): a network is visible to its project, to everyone when
``shared`` or ``router:external``, and to admins; a subnet is visible when its
network is; a port to its project, the network's project and admins. Invisible
resources are 404 ``<Resource>NotFound``; visible ones the caller may not
change are 403 ``PolicyNotAuthorized``; a reader may change nothing (403).
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
from kumo.common.policy import Policy
from kumo.config import Settings
from kumo.network import errors, policies
from kumo.network.models import Network, Port, Subnet
from kumo.network.policies import ADMIN_ATTRIBUTES, PUBLIC_OUTPUT

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Ports the network service removes itself when their network or subnet goes.
AUTO_DELETE_OWNERS = ("network:dhcp",)
DHCP_TOPIC = "dhcp_agent"


class ServiceBase:
    """Database, settings and bus of the network service, plus common checks."""

    def __init__(self, db: Database, settings: Settings, bus, policy: Policy | None = None):
        self.db = db
        self.settings = settings
        self.bus = bus
        self.policy = policy or policies.policy(settings)
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

    # --- rules (kumo.network.policies) ---------------------------------------
    def admin(self, ctx: RequestContext) -> bool:
        """``context_is_admin``: lists are not scoped to the caller's project."""
        return self.policy.is_admin(ctx)

    def allowed(self, ctx: RequestContext, action: str, target: dict) -> bool:
        return self.policy.check(ctx, action, target)

    def authorize(self, ctx: RequestContext, action: str, target: dict) -> None:
        """403 PolicyNotAuthorized unless the policy allows ``action`` on ``target``."""
        self.policy.authorize(ctx, action, target)

    def authorize_attributes(self, ctx: RequestContext, op: str, resource: str, keys, target: dict) -> None:
        """``<op>_<resource>:<key>`` for each attribute key given (403 on the first refused)."""
        for key in keys:
            self.authorize(ctx, f"{op}_{resource}:{key}", target)

    def shown(self, ctx: RequestContext, resource: str, view: dict, target: dict) -> dict:
        """``view`` without the attributes ``get_<resource>:<attr>`` hides from the caller."""
        for attr in ADMIN_ATTRIBUTES.get(resource, ()):
            if attr in view and attr not in PUBLIC_OUTPUT and \
                    not self.allowed(ctx, f"get_{resource}:{attr}", target):
                del view[attr]
        return view

    @staticmethod
    def network_target(net: Network) -> dict:
        return {"id": net.id, "project_id": net.project_id, "shared": net.shared,
                "router:external": net.external}

    @staticmethod
    def child_target(project_id: str | None, net: Network, **extra) -> dict:
        """Target of a subnet or port of ``project_id`` on ``net`` (also for creates)."""
        return {"project_id": project_id, "network_id": net.id, "network:project_id": net.project_id,
                "network:shared": net.shared, "network:router:external": net.external, **extra}

    def authorize_create(self, ctx: RequestContext, action: str, project_id: str | None) -> None:
        """Before looking the network up: 403 if the caller may not ``action`` (create_subnet,
        create_port) even on a network of its own (a reader), so it learns nothing of others'."""
        self.authorize(ctx, action, {"project_id": project_id, "network:project_id": ctx.project_id})

    def scope_clause(self, ctx: RequestContext):
        """SQL filter of the networks a list starts from: the caller's project's, shared and
        external ones (None for admins: all)."""
        if self.admin(ctx):
            return None
        return or_(Network.project_id == ctx.project_id, Network.shared.is_(True),
                   Network.external.is_(True))

    async def get_network(self, s: AsyncSession, ctx: RequestContext, net_id: str) -> Network:
        """The network if ``get_network`` allows the caller, else 404 NetworkNotFound."""
        net = await s.get(Network, net_id)
        if net is None or not self.allowed(ctx, "get_network", self.network_target(net)):
            raise errors.not_found("network", net_id)
        return net

    async def get_subnet(self, s: AsyncSession, ctx: RequestContext, subnet_id: str
                         ) -> tuple[Subnet, Network]:
        """The subnet and its network if ``get_subnet`` allows the caller, else 404."""
        subnet = await s.get(Subnet, subnet_id)
        net = await s.get(Network, subnet.network_id) if subnet else None
        if subnet is None or net is None or not self.allowed(
                ctx, "get_subnet", self.child_target(subnet.project_id, net)):
            raise errors.not_found("subnet", subnet_id)
        return subnet, net

    async def get_port(self, s: AsyncSession, ctx: RequestContext, port_id: str
                       ) -> tuple[Port, Network]:
        """The port and its network if ``get_port`` allows the caller, else 404."""
        port = await s.get(Port, port_id)
        net = await s.get(Network, port.network_id) if port else None
        if port is None or net is None or not self.allowed(ctx, "get_port", self.port_target(port, net)):
            raise errors.not_found("port", port_id)
        return port, net

    def port_target(self, port: Port, net: Network) -> dict:
        return self.child_target(port.project_id, net, device_owner=port.device_owner)

    async def network_deleting(self, s: AsyncSession, net: Network) -> None:
        """Hook run before the API deletes ``net`` (before its in-use check); the L3 mixin
        releases the network's unassociated floating IPs there."""

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
