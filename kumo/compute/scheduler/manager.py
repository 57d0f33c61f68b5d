"""The scheduler endpoint (bus topic ``scheduler``): pick a host, claim it, start the build.

``schedule_instance(instance_id)`` (a cast from the compute API):

1. loads the instance; nothing happens unless it is still building /
   scheduling without a host (it may have been deleted meanwhile);
2. reads every compute node with its ``nova-compute`` service and the
   resources claimed on it (:func:`kumo.compute.service.node_usage`);
3. filters and weighs them (:mod:`kumo.compute.scheduler.filters`), then
   applies the instance's zone, server group and hint constraints
   (:mod:`kumo.compute.scheduler.constraints`);
4. claims the best host in one transaction: the capacity check is redone on
   fresh usage, the node's ``generation`` is bumped only if it did not
   change since that read, and the instance gets host/node only if it is
   still unclaimed. Any change in between undoes the transaction and the
   next host (then a fresh round) is tried, so concurrent boots never
   over-commit a node, on SQLite or on a server database;
5. casts ``compute.<host>`` ``build_instance(instance=<dict>)``.

No host: fault "No valid host was found. There are not enough hosts
available." (code 500) and vm_state error, through the conductor logic.
"""
from __future__ import annotations

import logging

from sqlalchemy import select, update

from kumo.common.bus import NoListener
from kumo.common.db import utcnow
from kumo.compute import objects
from kumo.compute.conductor import Conductor
from kumo.compute.aggregates import zone_of
from kumo.compute.models import ComputeNode, Instance, Service
from kumo.compute.scheduler import constraints
from kumo.compute.scheduler.filters import HostState, Ratios, filter_hosts, fits, weigh
from kumo.compute.service import node_usage, service_is_up

log = logging.getLogger(__name__)

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
#: Rounds of (read state, try every candidate) before giving up on contention.
MAX_ROUNDS = 10


class _Abort(Exception):
    """Roll the claim transaction back."""


async def host_states(session) -> list[HostState]:
    """Every compute node with its claimed usage and its service's state."""
    nodes = (await session.execute(select(ComputeNode))).scalars().all()
    services = {s.host: s for s in (await session.execute(
        select(Service).where(Service.binary == "nova-compute"))).scalars().all()}
    usage = await node_usage(session)
    now = utcnow()
    out = []
    for n in nodes:
        svc = services.get(n.host)
        u = usage.get((n.host, n.hypervisor_hostname), {})
        out.append(HostState(host=n.host, node=n.hypervisor_hostname, node_id=n.id,
                             generation=n.generation, vcpus=n.vcpus, memory_mb=n.memory_mb,
                             local_gb=n.local_gb, used_vcpus=u.get("vcpus", 0),
                             used_ram=u.get("ram", 0), used_disk=u.get("disk", 0),
                             enabled=svc is not None and not svc.disabled,
                             up=svc is not None and service_is_up(svc, now)))
    return out


async def claim(db, instance_uuid: str, flavor: dict, target: HostState, ratios: Ratios,
                task_state: str = objects.SCHEDULING) -> str:
    """Claim ``target`` for the instance (waiting in ``task_state`` without a host) atomically.

    Returns ``"claimed"``, ``"gone"`` (the instance is no longer waiting for
    a host) or ``"retry"`` (the node changed, no longer fits, or no longer
    meets the instance's zone / group / hint constraints).
    """
    try:
        async with db.session() as s:
            fresh = [h for h in await host_states(s) if h.node_id == target.node_id]
            if not fresh or fresh[0].generation != target.generation or fits(fresh[0], flavor, ratios):
                raise _Abort("retry")
            inst = (await s.execute(select(Instance).where(Instance.uuid == instance_uuid))).scalar_one_or_none()
            if inst is None:
                raise _Abort("gone")
            if constraints.refuse(await constraints.load(s, inst), target.host):
                raise _Abort("retry")
            zone = await zone_of(s, target.host)
            bumped = await s.execute(update(ComputeNode).where(
                ComputeNode.id == target.node_id, ComputeNode.generation == target.generation
            ).values(generation=target.generation + 1))
            if bumped.rowcount != 1:
                raise _Abort("retry")
            taken = await s.execute(update(Instance).where(
                Instance.uuid == instance_uuid, Instance.deleted.is_(False), Instance.host.is_(None),
                Instance.task_state == task_state
            ).values(host=target.host, node=target.node, availability_zone=zone, updated_at=utcnow()))
            if taken.rowcount != 1:
                raise _Abort("gone")
    except _Abort as outcome:
        return str(outcome)
    return "claimed"


class Scheduler:
    """Bus endpoint ``scheduler`` over the compute database."""

    def __init__(self, db, bus, settings):
        self.db, self.bus = db, bus
        self.ratios = Ratios.from_settings(settings.compute)
        self.conductor = Conductor(db, bus)

    async def _waiting(self, instance_id: str) -> Instance | None:
        async with self.db.session() as s:
            inst = (await s.execute(select(Instance).where(Instance.uuid == instance_id))).scalar_one_or_none()
        if (inst is None or inst.deleted or inst.host is not None or inst.vm_state != objects.BUILDING
                or inst.task_state != objects.SCHEDULING):
            return None
        return inst

    async def schedule_instance(self, instance_id: str) -> None:
        """Find, claim and start a host for the instance (see module docstring)."""
        report = ""
        for _round in range(MAX_ROUNDS):
            inst = await self._waiting(instance_id)
            if inst is None:
                return
            async with self.db.session() as s:
                hosts = await host_states(s)
                needs = await constraints.load(s, inst)
            candidates, report = filter_hosts(hosts, inst.flavor, self.ratios,
                                              inst.requested_host, inst.requested_node)
            candidates, report = constraints.apply(needs, candidates, report)
            if not candidates:
                break
            for target in constraints.prefer(needs, weigh(candidates, self.ratios)):
                outcome = await claim(self.db, instance_id, inst.flavor, target, self.ratios)
                if outcome == "gone":
                    return
                if outcome == "claimed":
                    return await self._build(instance_id, target.host)
        else:
            report += f"; still contended after {MAX_ROUNDS} rounds"
        log.info("no valid host for %s: %s", instance_id, report)
        await self.conductor.instance_fault(instance_id, NO_VALID_HOST, 500, report)

    async def _build(self, instance_id: str, host: str) -> None:
        async with self.db.session() as s:
            inst = (await s.execute(select(Instance).where(Instance.uuid == instance_id))).scalar_one()
            payload = objects.instance_to_dict(inst)
        try:
            await self.bus.cast(f"compute.{host}", "build_instance", instance=payload)
        except NoListener:
            await self.conductor.instance_fault(
                instance_id, NO_VALID_HOST, 500, f"compute agent on {host} is not listening")
