"""What every network agent (DHCP, L2, L3) shares: the network API, heartbeats, periodic work.

:class:`NetworkAgent` holds the runtime, settings and host name and gives:

- :meth:`api` / :meth:`api_get`: calls to the Networking API v2.0 as the service user;
  ``api_get(path, key, params=None, **filters)`` is the ``key`` member of a 200 body, ``None``
  for a 404, and :class:`ApiFailure` for any other status;
- :meth:`heartbeat`: the agent's report (:meth:`agent_report`, which each agent defines: the
  ``agent_type``, ``binary``, ``host``, ``topic``, ``start_flag`` and ``configurations`` of
  neutron's agents API) sent as ``network_server.agent_heartbeat`` on the bus; ``False`` when
  nobody answered;
- :meth:`every`: a loop running a coroutine function every N seconds, logging its failures;
- :meth:`lock`: one :class:`asyncio.Lock` per resource id (network, router).
"""
from __future__ import annotations

import asyncio
import logging

from kumo.common.bus import NoListener, RemoteError
from kumo.common.runtime import Runtime

log = logging.getLogger(__name__)

#: The bus topic the network API component serves for agents.
SERVER_TOPIC = "network_server"
#: Seconds between heartbeats (neutron's ``report_interval``).
HEARTBEAT_SECONDS = 30


class ApiFailure(Exception):
    """The network API answered a call with an unexpected status."""


class NetworkAgent:
    #: How log lines name the agent ("DHCP agent", "L3 agent"...).
    label = "network agent"

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.settings = rt.settings
        self.host = rt.settings.common.host
        self._locks: dict[str, asyncio.Lock] = {}

    def agent_report(self, start: bool = False) -> dict:
        raise NotImplementedError

    def lock(self, resource_id: str) -> asyncio.Lock:
        return self._locks.setdefault(resource_id, asyncio.Lock())

    async def api(self, method: str, path: str, **kwargs):
        return await self.rt.service_auth.request("network", method, path, **kwargs)

    async def api_get(self, path: str, key: str, params: dict | None = None, **filters) -> list | dict | None:
        query = {**(params or {}), **filters} or None
        r = await self.api("GET", path, params=query)
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ApiFailure(f"GET {path}: {r.status_code} {r.text[:200]}")
        return r.json()[key]

    async def heartbeat(self, start: bool = False) -> bool:
        try:
            await self.rt.bus.call(SERVER_TOPIC, "agent_heartbeat", timeout=10, agent=self.agent_report(start))
            return True
        except (NoListener, RemoteError, asyncio.TimeoutError) as e:
            log.debug("%s heartbeat not delivered: %s", self.label, e)
        except Exception:
            log.exception("%s heartbeat failed", self.label)
        return False

    async def every(self, seconds: float, fn) -> None:
        """Run ``await fn()`` every ``seconds`` until cancelled; a failure is logged, not fatal."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await fn()
            except Exception:
                log.exception("%s: periodic %s failed", self.label, fn.__name__)
