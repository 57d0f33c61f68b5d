"""Notices from the network API to compute (neutron's nova notifier): a floating IP
associated with, moved off or released from a server's port sends
``POST /v2.1/os-server-external-events`` ``network-changed`` (tag: the port id) as the
service user, so the server's addresses and metadata show it.

Sent after the change is committed, in the background: a compute API that is down or
refuses costs a log line, never the network request.
"""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

COMPUTE_OWNER = "compute:"


class ComputeNotifier:
    """``ComputeNotifier(service_auth)``: :meth:`network_changed` queues one request."""

    def __init__(self, service_auth):
        self.auth = service_auth
        self._tasks: set[asyncio.Task] = set()

    def network_changed(self, ports: list[tuple[str, str]]) -> None:
        """Queue ``network-changed`` for each ``(server uuid, port id)`` (none: nothing sent)."""
        events = [{"name": "network-changed", "server_uuid": server, "tag": port}
                  for server, port in dict.fromkeys(ports)]
        if events:
            task = asyncio.get_running_loop().create_task(self._send(events))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, events: list[dict]) -> None:
        try:
            resp = await self.auth.request("compute", "POST", "/os-server-external-events",
                                           json={"events": events})
            log.info("compute told of %d network change(s): HTTP %s", len(events), resp.status_code)
        except Exception as e:  # noqa: BLE001 - see the module doc
            log.warning("could not tell compute of network changes %s: %s", events, e)

    async def drain(self) -> None:
        """Wait for the queued requests (stopping, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
