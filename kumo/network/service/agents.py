"""Agents (Networking API v2.0, "Networking Agents").

Agents report with the bus call ``network_server.agent_heartbeat(agent)``
(``agent``: ``agent_type``, ``binary``, ``host``, ``topic``, ``configurations``,
optional ``start_flag``); an agent is alive while it reported within
:data:`~kumo.network.service.views.AGENT_DOWN_TIME` seconds. Only admins see
and manage agents (others get an empty list and 404s).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.auth.context import RequestContext
from kumo.common.db import utcnow
from kumo.network import errors
from kumo.network.models import Agent
from kumo.network.service.scheduler import SchedulerMixin
from kumo.network.service.views import DHCP_AZ, agent_view


class AgentsMixin(SchedulerMixin):
    async def agent_heartbeat(self, agent: dict) -> dict:
        """Record an agent's report; returns ``{"id": <agent id>}``.

        Raises ValueError for a report without agent_type, binary, host or topic.
        """
        for key in ("agent_type", "binary", "host", "topic"):
            if not isinstance(agent.get(key), str) or not agent[key]:
                raise ValueError(f"agent report lacks {key!r}")

        async def tx(s: AsyncSession) -> dict:
            row = await s.scalar(select(Agent).where(Agent.agent_type == agent["agent_type"],
                                                     Agent.host == agent["host"]))
            now = utcnow()
            starting = row is None or bool(agent.get("start_flag"))
            if row is None:
                row = Agent(agent_type=agent["agent_type"], host=agent["host"], created_at=now,
                            started_at=now, binary=agent["binary"], topic=agent["topic"],
                            availability_zone=DHCP_AZ if agent["agent_type"] == "DHCP agent" else None)
                s.add(row)
            elif agent.get("start_flag"):
                row.started_at = now
            row.binary, row.topic = agent["binary"], agent["topic"]
            row.configurations = dict(agent.get("configurations") or {})
            row.heartbeat_timestamp = now
            await s.flush()
            if starting:  # a new or restarted agent takes the routers / networks nobody hosts
                await self.auto_schedule(s, row)
            return {"id": row.id}

        # Heartbeats skip the retry lock's queue only in name: they are small writes.
        return await self.write(tx)

    async def list_agents(self, ctx: RequestContext) -> list[dict]:
        """The agents ``get_agent`` shows the caller (admins: all; others: none)."""
        if not self.allowed(ctx, "get_agent", {}):
            return []

        async def tx(s: AsyncSession) -> list[dict]:
            rows = (await s.scalars(select(Agent).order_by(Agent.id))).all()
            return [agent_view(a) for a in rows]
        return await self.read(tx)

    async def _agent(self, s: AsyncSession, ctx: RequestContext, agent_id: str,
                     action: str = "get_agent") -> Agent:
        """The agent if ``action`` allows the caller (admin only by default), else 404."""
        row = await s.get(Agent, agent_id) if self.allowed(ctx, action, {}) else None
        if row is None:
            raise errors.not_found("agent", agent_id)
        return row

    async def show_agent(self, ctx: RequestContext, agent_id: str) -> dict:
        async def tx(s: AsyncSession) -> dict:
            return agent_view(await self._agent(s, ctx, agent_id))
        return await self.read(tx)

    async def update_agent(self, ctx: RequestContext, agent_id: str, body: dict) -> dict:
        """Change ``admin_state_up`` / ``description`` (admin only; others 404)."""
        async def tx(s: AsyncSession) -> dict:
            row = await self._agent(s, ctx, agent_id, "update_agent")
            if "admin_state_up" in body:
                row.admin_state_up = body["admin_state_up"]
            if "description" in body:
                row.description = body["description"]
            await s.flush()
            return agent_view(row)
        return await self.write(tx)

    async def delete_agent(self, ctx: RequestContext, agent_id: str) -> None:
        async def tx(s: AsyncSession) -> None:
            await s.delete(await self._agent(s, ctx, agent_id, "delete_agent"))
        await self.write(tx)
