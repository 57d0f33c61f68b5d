"""The conductor: the only way agents and the scheduler change compute rows.

The compute API component serves :class:`Conductor` on bus topic
``conductor`` (DEVELOPERS.md "Bus contracts"). Every method is an RPC call;
errors reach the caller as ``RemoteError`` with the exception class name as
``kind`` (``InstanceNotFound``, ``UnexpectedTaskStateError``,
``UnexpectedDeletingTaskStateError``, ``InvalidUpdate``).

Notifications (``bus.notify``): ``compute.instance.create.end`` when a
building instance becomes active, ``compute.instance.delete.end`` when it is
destroyed; the payload is the instance dict.
"""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from kumo.common.db import utcnow
from kumo.compute import instance_actions, migrations, objects
from kumo.compute.models import ComputeNode, Instance, InstanceFault, Service

log = logging.getLogger(__name__)

_UPDATABLE = {"vm_state", "task_state", "power_state", "host", "node", "launched_at",
              "terminated_at", "network_info", "flavor", "flavor_id", "system_metadata"}
_NODE_FIELDS = {"host": str, "hypervisor_hostname": str, "hypervisor_type": str,
                "hypervisor_version": int, "vcpus": int, "memory_mb": int, "local_gb": int,
                "cpu_info": str, "host_ip": str}


class InstanceNotFound(Exception):
    """The instance uuid is unknown (or already deleted, for updates)."""
    pass


class UnexpectedTaskStateError(Exception):
    """expected_task_state did not match the instance's task_state."""
    pass


class UnexpectedDeletingTaskStateError(UnexpectedTaskStateError):
    """The instance is being deleted: the update would undo that."""
    pass


class InvalidUpdate(Exception):
    """A field or value the conductor does not accept."""
    pass


class Conductor:
    """Bus endpoint ``conductor`` over the compute database ``db``."""

    def __init__(self, db, bus=None):
        self.db, self.bus = db, bus

    async def _notify(self, event: str, payload: dict) -> None:
        if self.bus is not None:
            await self.bus.notify(event, payload)

    async def _load(self, s, instance_id: str) -> Instance:
        inst = (await s.execute(select(Instance).where(Instance.uuid == instance_id))).scalar_one_or_none()
        if inst is None:
            raise InstanceNotFound(f"Instance {instance_id} could not be found.")
        return inst

    async def instance_update(self, instance_id: str, values: dict) -> dict:
        """Set fields of a live instance and return its dict.

        Allowed keys: vm_state, task_state, power_state (int), host, node,
        launched_at / terminated_at (ISO 8601 or None), network_info (list),
        flavor / system_metadata (dicts: resize, shelve), flavor_id, migration_status (the
        status of the instance's newest migration, kumo.compute.migrations),
        expected_task_state (str, None or a list of them: the update happens
        only if the current task_state is one of them). While the instance is
        being deleted, vm_state/task_state changes are refused
        (UnexpectedDeletingTaskStateError) so a build cannot resurrect it.
        """
        values = dict(values)
        migration_status = values.pop("migration_status", None)  # the resize's (kumo.compute.migrations)
        check = "expected_task_state" in values
        expected = values.pop("expected_task_state", None)
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise InvalidUpdate(f"instance_update: fields not allowed: {', '.join(sorted(unknown))}")
        try:
            for key in ("launched_at", "terminated_at"):
                if key in values:
                    values[key] = objects.parse_time(values[key])
        except (TypeError, ValueError) as e:
            raise InvalidUpdate(f"instance_update: bad timestamp: {e}") from None
        if "power_state" in values and not isinstance(values["power_state"], int):
            raise InvalidUpdate("instance_update: power_state must be an integer")
        if "network_info" in values and not isinstance(values["network_info"], list):
            raise InvalidUpdate("instance_update: network_info must be a list")
        for key in ("flavor", "system_metadata"):
            if key in values and not isinstance(values[key], dict):
                raise InvalidUpdate(f"instance_update: {key} must be an object")
        async with self.db.session() as s:
            inst = await self._load(s, instance_id)
            if inst.deleted:
                raise InstanceNotFound(f"Instance {instance_id} could not be found.")
            if check:
                allowed = expected if isinstance(expected, list) else [expected]
                if inst.task_state not in allowed:
                    cls = (UnexpectedDeletingTaskStateError if inst.task_state == objects.DELETING
                           else UnexpectedTaskStateError)
                    raise cls(f"Conflict updating instance {instance_id}. Expected: "
                              f"{{'task_state': {allowed}}}. Actual: {{'task_state': {inst.task_state!r}}}")
            if inst.task_state == objects.DELETING and (
                    "vm_state" in values or values.get("task_state", objects.DELETING) != objects.DELETING):
                raise UnexpectedDeletingTaskStateError(
                    f"Conflict updating instance {instance_id}: it is being deleted")
            # create.end only ends a build: start / hard reboot (stopped or error -> active) are not one
            became_active = values.get("vm_state") == objects.ACTIVE and inst.vm_state == objects.BUILDING
            for key, value in values.items():
                setattr(inst, key, value)
            inst.updated_at = utcnow()
            if migration_status:
                await migrations.set_status(s, instance_id, migration_status)
            result = objects.instance_to_dict(inst)
        if became_active:
            await self._notify("compute.instance.create.end", result)
        return result

    async def instance_fault(self, instance_id: str, message: str, code: int = 500,
                             details: str = "") -> None:
        """Record a fault and put the instance in ERROR (task_state None).

        A fault while building also releases the claim (host/node cleared,
        as nova does after a failed build: the agent has undone its work).
        A deleted instance is left alone; a deleting one keeps its task.
        """
        async with self.db.session() as s:
            inst = await self._load(s, instance_id)
            if inst.deleted:
                log.info("fault for deleted instance %s ignored: %s", instance_id, message)
                return
            s.add(InstanceFault(instance_uuid=instance_id, code=int(code),
                                message=str(message)[:255], details=str(details or "")))
            await instance_actions.fail_open_event(s, instance_id, str(message)[:255], details or None)
            deleting = inst.task_state == objects.DELETING
            if inst.vm_state == objects.BUILDING and not deleting:
                inst.host = inst.node = None
            inst.vm_state = objects.ERROR
            if not deleting:
                inst.task_state = None
            inst.updated_at = utcnow()

    async def instance_destroyed(self, instance_id: str) -> None:
        """Mark the instance deleted (soft delete); its claim is released with it."""
        async with self.db.session() as s:
            inst = await self._load(s, instance_id)
            if inst.deleted:
                return
            now = utcnow()
            inst.vm_state, inst.task_state, inst.power_state = objects.DELETED, None, 0
            inst.deleted, inst.deleted_at, inst.updated_at = True, now, now
            inst.terminated_at = inst.terminated_at or now
            payload = objects.instance_to_dict(inst)
        await self._notify("compute.instance.delete.end", payload)

    async def action_event_start(self, instance_id: str, event: str, host: str | None = None,
                                 request_id: str | None = None, action: str | None = None) -> bool:
        """Open an instance action event (see :mod:`kumo.compute.instance_actions`); False if the
        instance has no action to attach it to."""
        async with self.db.session() as s:
            return await instance_actions.event_start(s, instance_id, event, host=host,
                                                      request_id=request_id, action=action)

    async def action_event_finish(self, instance_id: str, event: str, result: str = "Success",
                                  traceback: str | None = None, details: str | None = None,
                                  host: str | None = None, request_id: str | None = None,
                                  action: str | None = None) -> bool:
        """Finish an instance action event with ``result`` ``Success`` or ``Error``."""
        if result not in (instance_actions.SUCCESS, instance_actions.ERROR):
            raise InvalidUpdate(f"action_event_finish: bad result {result!r}")
        async with self.db.session() as s:
            return await instance_actions.event_finish(
                s, instance_id, event, result=result, traceback=traceback, details=details,
                host=host, request_id=request_id, action=action)

    async def host_instances(self, host: str, uuids: list[str] | None = None) -> list[dict]:
        """The instances of compute host ``host`` that are not deleted, plus those named in
        ``uuids`` wherever they are and deleted or not: ``[instance dict + {"deleted": bool}]``
        (the agent's start-up reconcile, power-state sync and image cache ageing)."""
        if not host:
            raise InvalidUpdate("host_instances: host is required")
        wanted = [str(u) for u in uuids or []]
        async with self.db.session() as s:
            clause = (Instance.host == host) & (Instance.deleted == False)  # noqa: E712
            if wanted:
                clause = clause | Instance.uuid.in_(wanted)
            rows = (await s.execute(select(Instance).where(clause))).scalars().all()
            return [dict(objects.instance_to_dict(i), deleted=bool(i.deleted)) for i in rows]

    async def report_compute_node(self, node: dict) -> None:
        """Upsert the compute node ``(host, hypervisor_hostname)`` with the agent's totals."""
        missing = [k for k in ("host", "hypervisor_hostname") if not node.get(k)]
        if missing:
            raise InvalidUpdate(f"report_compute_node: missing {', '.join(missing)}")
        values = {}
        for key, kind in _NODE_FIELDS.items():
            if key in node and node[key] is not None:
                try:
                    values[key] = kind(node[key])
                except (TypeError, ValueError):
                    raise InvalidUpdate(f"report_compute_node: bad {key}: {node[key]!r}") from None
        async with self.db.session() as s:
            row = (await s.execute(select(ComputeNode).where(
                ComputeNode.host == values["host"],
                ComputeNode.hypervisor_hostname == values["hypervisor_hostname"]))).scalar_one_or_none()
            if row is None:
                row = ComputeNode(host=values["host"], hypervisor_hostname=values["hypervisor_hostname"])
                s.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()

    async def service_heartbeat(self, host: str, binary: str, topic: str = "") -> None:
        """Upsert the service ``(host, binary)`` (e.g. nova-compute) with ``updated_at`` = now."""
        await record_heartbeat(self.db, host, binary, topic)


async def record_heartbeat(db, host: str, binary: str, topic: str) -> None:
    """Upsert a service row's heartbeat (shared by the conductor and the scheduler)."""
    if not host or not binary:
        raise InvalidUpdate("service_heartbeat: host and binary are required")
    async with db.session() as s:
        svc = (await s.execute(select(Service).where(
            Service.host == host, Service.binary == binary))).scalar_one_or_none()
        if svc is None:
            svc = Service(host=host, binary=binary)
            s.add(svc)
        svc.topic = topic or ""
        svc.updated_at = utcnow()


#: Seconds between the heartbeats of the scheduler and conductor services.
HEARTBEAT_SECONDS = 10


class Heartbeat:
    """A background task recording ``(host, binary)``'s heartbeat every :data:`HEARTBEAT_SECONDS`."""

    def __init__(self, db, host: str, binary: str, topic: str, interval: float = HEARTBEAT_SECONDS):
        self.db, self.host, self.binary, self.topic = db, host, binary, topic
        self.interval = interval
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await record_heartbeat(self.db, self.host, self.binary, self.topic)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await record_heartbeat(self.db, self.host, self.binary, self.topic)
            except Exception:  # keep beating; the next one may work
                log.exception("heartbeat of %s on %s failed", self.binary, self.host)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
