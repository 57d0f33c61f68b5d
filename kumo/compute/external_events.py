"""Server external events: other services tell compute that something of a server changed
(Compute API reference "Create External Events (os-server-external-events)").

The network API sends ``network-changed`` (tag: the port id) when a floating IP is
associated with or released from a server's port, as neutron's nova notifier does; compute
then reads the server's ports' floating IPs back from the network API into its
``network_info`` (what ``addresses`` and the metadata service's ``public-ipv4`` show).
``network-vif-plugged``, ``-unplugged`` and ``-deleted`` are accepted and recorded in the
log only: kumo's agent does not wait for plugging and finds deleted ports itself.

An event body: ``{"name", "server_uuid", "status"?, "tag"?}``. Each one answered gets
``code`` 200 (accepted), 404 (no such live server) or 422 (the server is on no host yet)
and ``status`` (``completed`` unless given, ``failed`` when not accepted).
"""
from __future__ import annotations

import logging
from urllib.parse import quote

from sqlalchemy import select

from kumo.common.auth.context import RequestContext
from kumo.compute.models import Instance

log = logging.getLogger(__name__)

NAMES = ("network-changed", "network-vif-plugged", "network-vif-unplugged", "network-vif-deleted")
STATUSES = ("failed", "completed", "in-progress")


async def deliver(compute, ctx: RequestContext, events: list[dict]) -> list[dict]:
    """Answer each event of a validated list (see the module doc); the servers of accepted
    ``network-changed`` events get their floating IPs refreshed (a network API failure is
    logged: the event stays accepted, as nova's refresh happens after the answer)."""
    out, refresh = [], []
    for event in events:
        answer = dict(event)
        answer.setdefault("status", "completed")
        async with compute.db.session() as s:
            inst = (await s.execute(select(Instance).where(
                Instance.uuid == event["server_uuid"], Instance.deleted.is_(False)))).scalar_one_or_none()
        if inst is None or not compute.sees(ctx, inst.project_id):
            answer.update(code=404, status="failed")
        elif not inst.host:
            answer.update(code=422, status="failed")
        else:
            answer["code"] = 200
            if event["name"] == "network-changed" and inst.uuid not in refresh:
                refresh.append(inst.uuid)
            log.info("external event %s (%s) for server %s", event["name"], event.get("tag", ""),
                     inst.uuid)
        out.append(answer)
    for uuid in refresh:
        try:
            await refresh_floating_ips(compute, uuid)
        except Exception as e:  # noqa: BLE001 - the next event or an operator's refresh mends it
            log.warning("could not refresh the network info of server %s: %s", uuid, e)
    return out


async def refresh_floating_ips(compute, uuid: str) -> None:
    """Set ``floating_ips`` (``[{"ip_address", "version": 4}]``) of each of the server's
    ``network_info`` entries from ``GET /v2.0/floatingips?port_id=`` (as the service user)."""
    async with compute.db.session() as s:
        inst = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one_or_none()
        ports = [vif["port_id"] for vif in (inst.network_info or [])] if inst else []
    found: dict[str, list[dict]] = {}
    for port_id in ports:
        resp = await compute.rt.service_auth.request(
            "network", "GET", f"/v2.0/floatingips?port_id={quote(port_id, safe='')}")
        if resp.status_code != 200:
            raise RuntimeError(f"GET floatingips of port {port_id}: HTTP {resp.status_code}")
        found[port_id] = [{"ip_address": f["floating_ip_address"], "version": 4}
                          for f in resp.json().get("floatingips", []) if f.get("floating_ip_address")]
    async with compute.db.session() as s:  # written on the newest network_info (the agent's too)
        inst = (await s.execute(select(Instance).where(Instance.uuid == uuid).with_for_update())
                ).scalar_one_or_none()
        if inst is None:
            return
        inst.network_info = [dict(vif, floating_ips=found.get(vif["port_id"], vif.get("floating_ips", [])))
                             for vif in inst.network_info or []]
