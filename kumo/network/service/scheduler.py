"""Agent scheduling (Networking API v2.0, "L3 agent scheduler" and "DHCP agent scheduler";
extensions ``l3_agent_scheduler``, ``dhcp_agent_scheduler``).

A router is hosted by at most one L3 agent (table ``routerl3agentbindings``), a network
by any number of DHCP agents (``networkdhcpagentbindings``); an agent wires only what
it hosts. Automatic choices (settings ``[network] router_auto_schedule`` and
``network_auto_schedule``, both on by default) take the alive, enabled agent of the
right type hosting the fewest routers (networks), ties by host name:

- a router when it gets a gateway or an interface (:meth:`SchedulerMixin.schedule_router`);
- a network when the DHCP agents are told it changed and it has a DHCP subnet
  (:meth:`SchedulerMixin.notify_dhcp`);
- every unhosted router (network) to an agent that registers or restarts
  (:meth:`SchedulerMixin.auto_schedule`, from its heartbeat).

Admin API (every rule admin only, 403 PolicyNotAuthorized otherwise):

- ``GET /v2.0/routers/{id}/l3-agents`` -> ``{"agents": [agent]}``;
- ``GET /v2.0/agents/{id}/l3-routers`` -> ``{"routers": [router]}``;
- ``POST /v2.0/agents/{id}/l3-routers`` ``{"router_id"}`` -> 201; 409 RouterHostedByL3Agent
  when another agent hosts it (the same agent: nothing changes);
- ``DELETE /v2.0/agents/{id}/l3-routers/{router_id}`` -> 204; 409 RouterNotHostedByL3Agent;
- the same four for ``/networks/{id}/dhcp-agents`` and ``/agents/{id}/dhcp-networks``
  (``{"network_id"}``; 409 NetworkHostedByDHCPAgent / NetworkNotHostedByDhcpAgent);
  removing a network from a DHCP agent also deletes that agent's DHCP port there.

404 AgentNotFound / RouterNotFound / NetworkNotFound; 404 InvalidL3Agent / InvalidDHCPAgent
for an agent of the other type or disabled (``admin_state_up`` false). Every change is fanned
out (``l3_agent.routers_updated`` / ``dhcp_agent.network_changed``): the agents that no longer
host the resource take its wiring down, the new one builds it.
"""
from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.network.models import Agent, Network, NetworkDhcpAgentBinding, Port, Router, \
    RouterL3AgentBinding, Subnet
from kumo.network.schemas import uuid_str
from kumo.network.service.base import ServiceBase
from kumo.network.service.views import agent_alive, agent_view

log = logging.getLogger(__name__)

L3_AGENT, DHCP_AGENT = "L3 agent", "DHCP agent"
L3_TOPIC = "l3_agent"
DHCP_OWNER = "network:dhcp"
#: binding table, its agent column, its resource column, per agent type
_BINDINGS = {
    L3_AGENT: (RouterL3AgentBinding, RouterL3AgentBinding.l3_agent_id, RouterL3AgentBinding.router_id),
    DHCP_AGENT: (NetworkDhcpAgentBinding, NetworkDhcpAgentBinding.dhcp_agent_id,
                 NetworkDhcpAgentBinding.network_id),
}


def _body_id(body, key: str) -> str:
    """``body[key]`` of a POST ``{"router_id"}`` / ``{"network_id"}`` (400 otherwise)."""
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Invalid input: {key} is required", kind="HTTPBadRequest")
    return uuid_str(key, body[key])


class SchedulerMixin(ServiceBase):
    # --- choosing ------------------------------------------------------------------
    async def _least_loaded(self, s: AsyncSession, agent_type: str) -> Agent | None:
        """The alive, enabled agent of ``agent_type`` hosting the fewest resources."""
        _, agent_col, _ = _BINDINGS[agent_type]
        agents = [a for a in (await s.scalars(select(Agent).where(
            Agent.agent_type == agent_type, Agent.admin_state_up.is_(True)))).all() if agent_alive(a)]
        if not agents:
            return None
        load = dict((await s.execute(select(agent_col, func.count()).group_by(agent_col))).all())
        return min(agents, key=lambda a: (load.get(a.id, 0), a.host, a.id))

    async def _needs_l3(self, s: AsyncSession, router: Router) -> bool:
        """A router needs an agent once it has a gateway or an interface."""
        if router.gw_port_id:
            return True
        return await s.scalar(select(Port.id).where(Port.device_id == router.id).limit(1)) is not None

    async def _needs_dhcp(self, s: AsyncSession, network_id: str) -> bool:
        return await s.scalar(select(Subnet.id).where(
            Subnet.network_id == network_id, Subnet.enable_dhcp.is_(True)).limit(1)) is not None

    async def schedule_router(self, router_id: str) -> None:
        """Give the router an L3 agent when it needs one and has none (auto-scheduling on)."""
        if not self.settings.network.router_auto_schedule:
            return

        async def hosted(s: AsyncSession) -> bool:
            return await s.get(RouterL3AgentBinding, router_id) is not None
        if await self.read(hosted):  # the common case: no write
            return

        async def tx(s: AsyncSession) -> None:
            router = await s.get(Router, router_id)
            if router is None or await hosted(s):
                return
            if not await self._needs_l3(s, router):
                return
            agent = await self._least_loaded(s, L3_AGENT)
            if agent is not None:
                s.add(RouterL3AgentBinding(router_id=router_id, l3_agent_id=agent.id))
        await self._schedule(tx)

    async def schedule_network(self, network_id: str) -> None:
        """Give the network a DHCP agent when it has a DHCP subnet and no agent."""
        if not self.settings.network.network_auto_schedule:
            return

        async def hosted(s: AsyncSession) -> bool:
            return await s.scalar(select(NetworkDhcpAgentBinding.dhcp_agent_id).where(
                NetworkDhcpAgentBinding.network_id == network_id).limit(1)) is not None
        if await self.read(hosted):  # the common case: no write
            return

        async def tx(s: AsyncSession) -> None:
            if await s.get(Network, network_id) is None or await hosted(s):
                return
            if not await self._needs_dhcp(s, network_id):
                return
            agent = await self._least_loaded(s, DHCP_AGENT)
            if agent is not None:
                s.add(NetworkDhcpAgentBinding(network_id=network_id, dhcp_agent_id=agent.id))
        await self._schedule(tx)

    async def _schedule(self, tx) -> None:
        try:
            await self.write(tx)
        except Exception:  # a committed change stands; the agent's restart schedules it
            log.exception("agent scheduling failed")

    async def auto_schedule(self, s: AsyncSession, agent: Agent) -> None:
        """Host every unhosted router (L3) or DHCP network (DHCP) on ``agent`` (a starting
        agent, in the heartbeat's transaction)."""
        if not agent.admin_state_up:
            return
        if agent.agent_type == L3_AGENT and self.settings.network.router_auto_schedule:
            hosted = select(RouterL3AgentBinding.router_id)
            for router in (await s.scalars(select(Router).where(Router.id.not_in(hosted)))).all():
                if await self._needs_l3(s, router):
                    s.add(RouterL3AgentBinding(router_id=router.id, l3_agent_id=agent.id))
        elif agent.agent_type == DHCP_AGENT and self.settings.network.network_auto_schedule:
            hosted = select(NetworkDhcpAgentBinding.network_id)
            ids = (await s.scalars(select(Subnet.network_id).where(
                Subnet.enable_dhcp.is_(True), Subnet.network_id.not_in(hosted)).distinct())).all()
            for network_id in ids:
                s.add(NetworkDhcpAgentBinding(network_id=network_id, dhcp_agent_id=agent.id))

    async def notify_dhcp(self, method: str, network_id: str) -> None:
        """Schedule a changed network that needs DHCP, then tell the DHCP agents."""
        if method == "network_changed":
            await self.schedule_network(network_id)
        await super().notify_dhcp(method, network_id)

    async def _notify_router(self, router_id: str) -> None:
        try:
            await self.bus.fanout(L3_TOPIC, "routers_updated", router_ids=[router_id])
        except Exception:
            log.exception("could not notify L3 agents of router %s", router_id)

    # --- lookups -------------------------------------------------------------------
    async def _typed_agent(self, s: AsyncSession, ctx: RequestContext, agent_id: str,
                           agent_type: str, enabled: bool = False) -> Agent:
        agent = await s.get(Agent, agent_id)
        if agent is None:
            raise NotFound(f"Agent {agent_id} could not be found.", kind="AgentNotFound")
        if agent.agent_type != agent_type or (enabled and not agent.admin_state_up):
            if agent_type == L3_AGENT:
                raise NotFound(f"Agent {agent_id} is not a L3 Agent or has been disabled",
                               kind="InvalidL3Agent")
            raise NotFound(f"Agent {agent_id} is not a valid DHCP Agent or has been disabled",
                           kind="InvalidDHCPAgent")
        return agent

    async def _router_row(self, s: AsyncSession, router_id: str) -> Router:
        router = await s.get(Router, router_id)
        if router is None:
            raise NotFound(f"Router {router_id} could not be found", kind="RouterNotFound")
        return router

    # --- L3 agent scheduler ------------------------------------------------------------
    async def list_l3_agents_hosting_router(self, ctx: RequestContext, router_id: str) -> list[dict]:
        """``GET /v2.0/routers/{id}/l3-agents``: the agent hosting the router (0 or 1)."""
        self.authorize(ctx, "get_l3-agents", {})

        async def tx(s: AsyncSession) -> list[dict]:
            await self._router_row(s, router_id)
            rows = (await s.scalars(select(Agent).join(
                RouterL3AgentBinding, RouterL3AgentBinding.l3_agent_id == Agent.id).where(
                RouterL3AgentBinding.router_id == router_id))).all()
            return [agent_view(a) for a in rows]
        return await self.read(tx)

    async def list_routers_on_l3_agent(self, ctx: RequestContext, agent_id: str) -> list[dict]:
        """``GET /v2.0/agents/{id}/l3-routers``: views of the routers the agent hosts."""
        self.authorize(ctx, "get_l3-routers", {})

        async def tx(s: AsyncSession) -> list[dict]:
            await self._typed_agent(s, ctx, agent_id, L3_AGENT)
            rows = (await s.scalars(select(Router).join(
                RouterL3AgentBinding, RouterL3AgentBinding.router_id == Router.id).where(
                RouterL3AgentBinding.l3_agent_id == agent_id).order_by(Router.id))).all()
            return [await self._router_view(s, r) for r in rows]
        return await self.read(tx)

    async def add_router_to_l3_agent(self, ctx: RequestContext, agent_id: str, body) -> None:
        """``POST /v2.0/agents/{id}/l3-routers`` with ``{"router_id"}``."""
        self.authorize(ctx, "create_l3-router", {})
        router_id = _body_id(body, "router_id")

        async def tx(s: AsyncSession) -> bool:
            agent = await self._typed_agent(s, ctx, agent_id, L3_AGENT, enabled=True)
            await self._router_row(s, router_id)
            binding = await s.get(RouterL3AgentBinding, router_id)
            if binding is not None:
                if binding.l3_agent_id == agent.id:
                    return False
                raise Conflict(f"The router {router_id} has been already hosted by the L3 Agent "
                               f"{binding.l3_agent_id}.", kind="RouterHostedByL3Agent")
            s.add(RouterL3AgentBinding(router_id=router_id, l3_agent_id=agent.id))
            return True
        if await self.write(tx):
            await self._notify_router(router_id)

    async def remove_router_from_l3_agent(self, ctx: RequestContext, agent_id: str,
                                          router_id: str) -> None:
        """``DELETE /v2.0/agents/{id}/l3-routers/{router_id}``: the agent unwires it."""
        self.authorize(ctx, "delete_l3-router", {})

        async def tx(s: AsyncSession) -> None:
            await self._typed_agent(s, ctx, agent_id, L3_AGENT)
            await self._router_row(s, router_id)
            binding = await s.get(RouterL3AgentBinding, router_id)
            if binding is None or binding.l3_agent_id != agent_id:
                raise Conflict(f"The router {router_id} is not hosted by L3 agent {agent_id}.",
                               kind="RouterNotHostedByL3Agent")
            await s.delete(binding)
        await self.write(tx)
        await self._notify_router(router_id)

    # --- DHCP agent scheduler ----------------------------------------------------------
    async def list_dhcp_agents_hosting_network(self, ctx: RequestContext, network_id: str) -> list[dict]:
        """``GET /v2.0/networks/{id}/dhcp-agents``."""
        self.authorize(ctx, "get_dhcp-agents", {})

        async def tx(s: AsyncSession) -> list[dict]:
            await self.get_network(s, ctx, network_id)
            rows = (await s.scalars(select(Agent).join(
                NetworkDhcpAgentBinding, NetworkDhcpAgentBinding.dhcp_agent_id == Agent.id).where(
                NetworkDhcpAgentBinding.network_id == network_id).order_by(Agent.id))).all()
            return [agent_view(a) for a in rows]
        return await self.read(tx)

    async def list_networks_on_dhcp_agent(self, ctx: RequestContext, agent_id: str) -> list[dict]:
        """``GET /v2.0/agents/{id}/dhcp-networks``: views of the networks the agent hosts."""
        self.authorize(ctx, "get_dhcp-networks", {})

        async def tx(s: AsyncSession) -> list[dict]:
            await self._typed_agent(s, ctx, agent_id, DHCP_AGENT)
            rows = (await s.scalars(select(Network).join(
                NetworkDhcpAgentBinding, NetworkDhcpAgentBinding.network_id == Network.id).where(
                NetworkDhcpAgentBinding.dhcp_agent_id == agent_id).order_by(Network.id))).all()
            return [self._network_view(ctx, n) for n in rows]
        return await self.read(tx)

    async def add_network_to_dhcp_agent(self, ctx: RequestContext, agent_id: str, body) -> None:
        """``POST /v2.0/agents/{id}/dhcp-networks`` with ``{"network_id"}``."""
        self.authorize(ctx, "create_dhcp-network", {})
        network_id = _body_id(body, "network_id")

        async def tx(s: AsyncSession) -> None:
            agent = await self._typed_agent(s, ctx, agent_id, DHCP_AGENT, enabled=True)
            await self.get_network(s, ctx, network_id)
            if await s.get(NetworkDhcpAgentBinding, (network_id, agent.id)) is not None:
                raise Conflict(f"The network {network_id} has been already hosted by the DHCP "
                               f"Agent {agent.id}.", kind="NetworkHostedByDHCPAgent")
            s.add(NetworkDhcpAgentBinding(network_id=network_id, dhcp_agent_id=agent.id))
        await self.write(tx)
        await super().notify_dhcp("network_changed", network_id)

    async def remove_network_from_dhcp_agent(self, ctx: RequestContext, agent_id: str,
                                             network_id: str) -> None:
        """``DELETE /v2.0/agents/{id}/dhcp-networks/{network_id}``: the agent unwires it."""
        self.authorize(ctx, "delete_dhcp-network", {})

        async def tx(s: AsyncSession) -> None:
            agent = await self._typed_agent(s, ctx, agent_id, DHCP_AGENT)
            await self.get_network(s, ctx, network_id)
            binding = await s.get(NetworkDhcpAgentBinding, (network_id, agent_id))
            if binding is None:
                raise Conflict(f"The network {network_id} is not hosted by the DHCP agent "
                               f"{agent_id}.", kind="NetworkNotHostedByDhcpAgent")
            await s.delete(binding)
            # the agent's DHCP port goes here, not by a later port delete (which would
            # schedule the network again)
            for port in (await s.scalars(select(Port).where(
                    Port.network_id == network_id, Port.device_owner == DHCP_OWNER,
                    Port.binding_host_id == agent.host))).all():
                await s.delete(port)
        await self.write(tx)
        await super().notify_dhcp("network_changed", network_id)
