"""The scheduler endpoint (bus topic ``scheduler``): pick a host, claim it, start the build.

``schedule_instance(instance_id)`` (a cast from the compute API):

1. loads the instance; nothing happens unless it is still building /
   scheduling without a host (it may have been deleted meanwhile);
2. reads every compute node with its ``nova-compute`` service and the
   resources claimed on it (:func:`kumo.compute.service.node_usage`), kept
   for :data:`HOST_STATE_TTL` seconds (:class:`HostStateCache`: its own
   claims applied, read fresh before the scheduler gives up);
3. filters and weighs them (:mod:`kumo.compute.scheduler.filters`), then
   applies the instance's zone, server group and hint constraints
   (:mod:`kumo.compute.scheduler.constraints`);
4. claims the best host in one transaction: the capacity check is redone on
   fresh usage (and the service must still be enabled and up), the node's
   ``generation`` is bumped only if it did not change since that read, and
   the instance gets host/node only if it is still unclaimed. Any change in between undoes the transaction and the
   next host (then a fresh round) is tried, so concurrent boots never
   over-commit a node, on SQLite or on a server database;
5. casts ``compute.<host>`` ``build_instance(instance=<dict>)``.

No host: fault "No valid host was found. There are not enough hosts
available." (code 500) and vm_state error, through the conductor logic.
"""
from __future__ import annotations

import logging
import time

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
#: Seconds the scheduler's copy of the host states is used before it is read again.
HOST_STATE_TTL = 2.0


class _Abort(Exception):
    """Roll the claim transaction back."""


async def host_states(session, node_id: int | None = None) -> list[HostState]:
    """Every compute node (only node ``node_id`` when given) with its claimed usage and its
    service's state; column reads, no ORM objects (1000 nodes are read on every refresh)."""
    query = select(ComputeNode.id, ComputeNode.host, ComputeNode.hypervisor_hostname, ComputeNode.generation,
                   ComputeNode.vcpus, ComputeNode.memory_mb, ComputeNode.local_gb, Service.id.label("service_id"),
                   Service.disabled, Service.forced_down, Service.updated_at).outerjoin(
        Service, (Service.host == ComputeNode.host) & (Service.binary == "nova-compute"))
    if node_id is not None:
        query = query.where(ComputeNode.id == node_id)
    nodes = (await session.execute(query)).all()
    if not nodes:
        return []
    usage = await node_usage(session, host=nodes[0].host if node_id is not None else None)
    now = utcnow()
    out = []
    for n in nodes:
        u = usage.get((n.host, n.hypervisor_hostname), {})
        known = n.service_id is not None
        out.append(HostState(host=n.host, node=n.hypervisor_hostname, node_id=n.id,
                             generation=n.generation, vcpus=n.vcpus, memory_mb=n.memory_mb,
                             local_gb=n.local_gb, used_vcpus=u.get("vcpus", 0),
                             used_ram=u.get("ram", 0), used_disk=u.get("disk", 0),
                             enabled=known and not n.disabled, up=known and service_is_up(n, now)))
    return out


class HostStateCache:
    """The scheduler's copy of :func:`host_states`, read again when older than ``ttl`` seconds
    (or when asked for a fresh one); its own claims are applied to it at once.

    A stale copy never over-commits: :func:`claim` checks the chosen node against fresh rows.
    It may only prefer a worse node, or miss capacity freed since the last read, which is why
    the scheduler reads fresh before it gives up (no candidate, or a claim refused).
    """

    def __init__(self, ttl: float = HOST_STATE_TTL):
        self.ttl = ttl
        self._hosts: list[HostState] = []
        self._read_at: float | None = None

    async def get(self, db, fresh: bool = False) -> list[HostState]:
        if fresh or self._read_at is None or time.monotonic() - self._read_at > self.ttl:
            async with db.session() as s:
                self._hosts = await host_states(s)
            self._read_at = time.monotonic()
        return self._hosts

    def claimed(self, target: HostState, flavor: dict) -> None:
        """Count a claim this scheduler made on ``target`` (a state :meth:`get` returned)."""
        target.generation += 1
        target.used_vcpus += int(flavor.get("vcpus", 0))
        target.used_ram += int(flavor.get("ram", 0))
        target.used_disk += objects.flavor_disk_gb(flavor)

    def invalidate(self) -> None:
        self._read_at = None


async def claim(db, instance_uuid: str, flavor: dict, target: HostState, ratios: Ratios,
                task_state: str = objects.SCHEDULING, needs: constraints.Constraints | None = None) -> str:
    """Claim ``target`` for the instance (waiting in ``task_state`` without a host) atomically.

    Returns ``"claimed"``, ``"gone"`` (the instance is no longer waiting for
    a host) or ``"retry"`` (the node changed, no longer fits, or no longer
    meets the instance's zone / group / hint constraints). ``needs``: the
    instance's constraints as the caller loaded them; when they constrain
    nothing they are not read again (they cannot change), else they are.
    """
    try:
        async with db.session() as s:
            fresh = await host_states(s, node_id=target.node_id)
            if (not fresh or fresh[0].generation != target.generation or fits(fresh[0], flavor, ratios)
                    or not (fresh[0].enabled and fresh[0].up)):
                raise _Abort("retry")
            if needs is None or not constraints.unconstrained(needs):
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
        self.hosts = HostStateCache()

    async def _waiting(self, instance_id: str) -> Instance | None:
        async with self.db.session() as s:
            inst = (await s.execute(select(Instance).where(Instance.uuid == instance_id))).scalar_one_or_none()
        if (inst is None or inst.deleted or inst.host is not None or inst.vm_state != objects.BUILDING
                or inst.task_state != objects.SCHEDULING):
            return None
        return inst

    async def schedule_instance(self, instance_id: str) -> None:
        """Find, claim and start a host for the instance (see module docstring)."""
        inst = await self._waiting(instance_id)
        if inst is None:
            return
        outcome, target, report = await self.select_destination(inst)
        if outcome == "claimed":
            return await self._build(instance_id, target.host)
        if outcome == "none":
            log.info("no valid host for %s: %s", instance_id, report)
            await self.conductor.instance_fault(instance_id, NO_VALID_HOST, 500, report)

    async def select_destination(self, inst: Instance) -> tuple[str, HostState | None, str]:
        """Choose and claim a host for ``inst`` (waiting for one in task_state scheduling): nova's
        ``select_destinations`` for one instance, steps 2-4 of the module docstring.

        Returns ``("claimed", host state, report)``, ``("gone", None, report)`` (the instance
        stopped waiting: deleted meanwhile) or ``("none", None, report)`` (no valid host; the
        report says what each filter removed).
        """
        report, needs = "", None
        for _round in range(MAX_ROUNDS):
            fresh = _round > 0  # the cached states first; a fresh read before giving up
            hosts = await self.hosts.get(self.db, fresh=fresh)
            if needs is None or not constraints.unconstrained(needs):
                async with self.db.session() as s:
                    needs = await constraints.load(s, inst)
            candidates, report = filter_hosts(hosts, inst.flavor, self.ratios,
                                              inst.requested_host, inst.requested_node)
            candidates, report = constraints.apply(needs, candidates, report)
            if not candidates:
                if fresh:
                    return "none", None, report
                continue
            for target in constraints.prefer(needs, weigh(candidates, self.ratios)):
                outcome = await claim(self.db, inst.uuid, inst.flavor, target, self.ratios, needs=needs)
                if outcome == "gone":
                    return "gone", None, report
                if outcome == "claimed":
                    self.hosts.claimed(target, inst.flavor)
                    return "claimed", target, report
        return "none", None, report + f"; still contended after {MAX_ROUNDS} rounds"

    async def _build(self, instance_id: str, host: str) -> None:
        async with self.db.session() as s:
            inst = (await s.execute(select(Instance).where(Instance.uuid == instance_id))).scalar_one()
            payload = objects.instance_to_dict(inst)
        try:
            await self.bus.cast(f"compute.{host}", "build_instance", instance=payload)
        except NoListener:
            await self.conductor.instance_fault(
                instance_id, NO_VALID_HOST, 500, f"compute agent on {host} is not listening")
