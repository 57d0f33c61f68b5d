"""What a component gets to run with, and what it must look like.

Every API and agent is a :class:`Component`: ``start()`` prepares it
(database schema, bus listeners, host state), ``stop()`` releases it, and an
API component also has an ASGI ``app`` and the ``port`` it is served on.
Components find each other only through the bus and the catalog (HTTP),
so the same component runs inside ``kumo up`` or alone (``kumo serve``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from kumo.common.auth.client import RemoteTokenValidator, ServiceAuth
from kumo.common.bus import MemoryBus, RabbitBus, connect
from kumo.config import Settings


@dataclass
class Runtime:
    """Shared handles for the components of one process."""

    settings: Settings
    bus: MemoryBus | RabbitBus
    service_auth: ServiceAuth
    validator: Any  # TokenValidator (kumo.common.api.app)

    @classmethod
    def create(cls, settings: Settings, http: httpx.AsyncClient | None = None) -> "Runtime":
        """Runtime for ``settings``; ``http`` lets tests route calls to in-process apps."""
        su = settings.service_user
        auth = ServiceAuth(settings.endpoint("identity"), su.username, su.password,
                           su.project_name, su.domain_id)
        if http is not None:
            auth.http = http
        validator = RemoteTokenValidator(auth, settings.identity.cache_seconds)
        return cls(settings=settings, bus=connect(settings.common.bus_url),
                   service_auth=auth, validator=validator)


@dataclass
class Component:
    """A runnable piece of kumo: an API (``app`` + ``port``) or an agent."""

    name: str
    app: Any = None
    port: int | None = None
    #: More ports the same ``app`` is served on (identity's admin port 35357).
    extra_ports: list[int] = field(default_factory=list)
    starters: list = field(default_factory=list)
    stoppers: list = field(default_factory=list)

    async def start(self) -> None:
        for fn in self.starters:
            await fn()

    async def stop(self) -> None:
        for fn in reversed(self.stoppers):
            await fn()
