"""The network API component (Neutron's Networking API v2.0 subset).

``component(rt)`` -> :class:`~kumo.common.runtime.Component` named
"network-api", served on ``[network] port`` (9696) with neutron-style errors.
Its ``start()`` creates the schema and serves the bus topic
``network_server`` (``agent_heartbeat(agent)``, ``update_port_status(host, up, down)``,
``update_floatingip_statuses(router_id, statuses)``; calls: agents report there).
"""
from __future__ import annotations

from kumo.common.api import create_app
from kumo.common.db import Database
from kumo.common.runtime import Component, Runtime
from kumo.network.api.routes import routes
from kumo.network import policies
from kumo.network.compute_notifier import ComputeNotifier
from kumo.network.models import Base
from kumo.network.service import NetworkService

SERVER_TOPIC = "network_server"


class NetworkServerEndpoint:
    """Bus endpoint of topic ``network_server``."""

    def __init__(self, service: NetworkService):
        self._service = service

    async def agent_heartbeat(self, agent: dict) -> dict:
        """Record an agent report (see :meth:`NetworkService.agent_heartbeat`); ``{"id"}``."""
        return await self._service.agent_heartbeat(agent)

    async def update_port_status(self, host: str, up: list[str], down: list[str]) -> int:
        """An L2 agent's port states (see :meth:`NetworkService.update_port_status`)."""
        return await self._service.update_port_status(host, up, down)

    async def update_floatingip_statuses(self, router_id: str, statuses: dict[str, str]) -> int:
        """An L3 agent's floating IP states (see
        :meth:`NetworkService.update_floatingip_statuses`)."""
        return await self._service.update_floatingip_statuses(router_id, statuses)


def _public(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") and path in ("", "/")


def component(rt: Runtime) -> Component:
    """Build the network API component for ``rt``."""
    settings = rt.settings
    db = Database(settings.database_url("network"), Base.metadata)
    service = NetworkService(db, settings, rt.bus, policies.policy(settings))
    if getattr(rt, "service_auth", None) is not None:
        service.compute_notifier = ComputeNotifier(rt.service_auth)
    app = create_app(style="neutron", routes=routes(), validator=rt.validator, public=_public,
                     state={"service": service, "settings": settings, "bus": rt.bus})
    endpoint = NetworkServerEndpoint(service)

    async def start() -> None:
        await db.create_schema()
        await rt.bus.serve(SERVER_TOPIC, endpoint)

    async def stop() -> None:
        await rt.bus.unserve(endpoint)
        if service.compute_notifier is not None:
            await service.compute_notifier.drain()
        await db.close()

    comp = Component(name="network-api", app=app, port=settings.network.port,
                     starters=[start], stoppers=[stop])
    comp.service = service  # type: ignore[attr-defined]  # for in-process callers and tests
    return comp
