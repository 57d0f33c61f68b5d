"""The compute agent's view of its host against the database: start-up reconcile,
power-state sync and image cache ageing (nova-compute's ``_init_instance``,
``_sync_power_states`` and image cache manager).

:class:`HostSync` is mixed into :class:`~kumo.compute.agent.manager.ComputeManager`.
The database's view comes from the conductor's ``host_instances(host, uuids)``;
when the conductor cannot be reached nothing is destroyed, removed or changed.

- :meth:`HostSync.reconcile` (start, before the bus is served): a guest (``instance-*``)
  or an instance directory whose instance is deleted, or unknown to the database, is an
  orphan: the guest is destroyed and the directory removed. Left alone (logged): a guest
  the database does not know that has no directory here (not this agent's), and a guest
  or directory of a live instance the database places on another host (a renamed host
  must not lose its guests). Each instance of
  this host is then put in a steady state: an unfinished build (vm_state building or a
  build task) is undone and goes to ERROR with a fault; an unfinished delete is finished;
  an instance whose guest is gone goes to ERROR with a fault; any other task left by the
  previous run is cleared and vm_state follows the guest's power state.
- :meth:`HostSync.sync_power_states` (every ``[compute] sync_power_state_interval`` s):
  for instances with no task in progress, power_state follows the hypervisor; an
  active (or paused) server whose guest powered itself off or crashed becomes SHUTOFF
  (vm_state stopped), a stopped or soft-deleted one whose guest runs is powered off.
- :meth:`HostSync.age_image_cache` (every ``[compute] image_cache_interval`` s): cached
  base images no instance uses and unused for ``image_cache_max_age`` s are removed.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib

from kumo.compute.virt import base
from kumo.compute.virt.base import InstancePaths
from kumo.compute.virt.disk import remove_instance_dir

log = logging.getLogger(__name__)

#: task states of a build (nova's _init_instance puts such instances in ERROR)
BUILD_TASKS = {"scheduling", "networking", "block_device_mapping", "spawning"}
#: vm_states the power sync leaves alone (nova's _sync_instance_power_state)
SYNC_IGNORED = {"building", "rescued", "resized", "suspended", "error", "shelved_offloaded"}
#: vm_states a cleared task keeps whatever the guest's power state
KEPT_VM_STATES = {"rescued", "resized", "shelved", "soft-delete", "error"}
#: guest power state -> vm_state of a server whose interrupted task is cleared
VM_STATE_OF_POWER = {base.RUNNING: "active", base.SHUTDOWN: "stopped", base.CRASHED: "stopped",
                     base.PAUSED: "paused", base.SUSPENDED: "suspended"}


def _is_uuid(name: str) -> bool:
    try:
        return str(uuidlib.UUID(name)) == name.lower()
    except ValueError:
        return False


class HostSync:
    """Needs the manager's ``driver``, ``host``, ``instances_dir``, ``images``, ``network``,
    ``settings``, ``_locks``, ``_serialized()``, ``_conductor()`` and ``terminate_instance()``."""

    async def _host_instances(self, uuids: list[str] | None = None) -> dict[str, dict] | None:
        """uuid -> the conductor's record (``host_instances``); None when it cannot answer."""
        try:
            records = await self._conductor("host_instances", host=self.host, uuids=uuids or [])
        except Exception as e:
            log.warning("cannot read this host's instances from the conductor: %s", e)
            return None
        return {r["uuid"]: r for r in records}

    def _live_here(self, record: dict | None) -> bool:
        return bool(record) and not record.get("deleted") and record.get("host") == self.host

    def _instance_dirs(self) -> list[str]:
        if not self.instances_dir.is_dir():
            return []
        return [p.name for p in self.instances_dir.iterdir() if p.is_dir() and _is_uuid(p.name)]

    # -- start-up reconcile ------------------------------------------------------------
    async def reconcile(self) -> list[str]:
        """Put the host and the database in agreement at start (module docstring); returns the
        names of the guests left alone."""
        guests = {g["uuid"]: g for g in await self.driver.list_instances() if g["name"].startswith("instance-")}
        dirs = self._instance_dirs()
        records = await self._host_instances(sorted(set(guests) | set(dirs)))
        if records is None:
            return [g["name"] for u, g in guests.items() if not InstancePaths(self.instances_dir, u).dir.is_dir()]
        left_alone = []
        for uuid, guest in guests.items():
            record = records.get(uuid)
            if self._live_here(record):
                continue
            if record is not None and not record.get("deleted"):
                log.warning("guest %s (%s) belongs to host %r, not %s; leaving it alone",
                            guest["name"], uuid, record.get("host"), self.host)
                left_alone.append(guest["name"])
            elif record is None and uuid not in dirs:
                log.warning("guest %s (%s) is unknown to the database and has no directory in %s; "
                            "leaving it alone", guest["name"], uuid, self.instances_dir)
                left_alone.append(guest["name"])
            else:
                await self._remove_orphan(uuid, guest["name"], "its instance is deleted or unknown")
        for uuid in dirs:
            record = records.get(uuid)
            if uuid not in guests and (record is None or record.get("deleted")):
                await self._remove_orphan(uuid, None, "no guest, and its instance is deleted or unknown")
        for record in records.values():
            if self._live_here(record) and record["uuid"] not in self._locks:
                try:
                    await self._init_instance(record, guests.get(record["uuid"]))
                except Exception:
                    log.exception("instance %s: start-up reconcile failed", record["uuid"])
        await self.sync_power_states()
        return left_alone

    async def _remove_orphan(self, uuid: str, name: str | None, why: str) -> None:
        log.warning("removing orphan %s (%s): %s", name or "instance directory", uuid, why)
        try:
            if name is not None:
                await self.driver.destroy({"uuid": uuid, "instance_name": name})
            await remove_instance_dir(InstancePaths(self.instances_dir, uuid))
        except Exception:
            log.exception("failed to remove orphan %s", uuid)

    async def _init_instance(self, record: dict, guest: dict | None) -> None:
        """One instance of this host at start (nova's ``_init_instance``)."""
        uuid, task, vm_state = record["uuid"], record.get("task_state"), record.get("vm_state")
        if task == "deleting":
            log.info("instance %s: finishing a delete interrupted by the restart", uuid)
            await self.terminate_instance(record)
            return
        if vm_state == "building" or task in BUILD_TASKS:
            await self._undo_interrupted_build(record)
            await self._conductor("instance_fault", instance_id=uuid, code=500, message=(
                f"Build of instance {uuid} was interrupted by a restart of the compute agent on {self.host}"))
            return
        if vm_state == "error":
            if task is not None:
                await self._clear_task(record, {})
            return
        if guest is None and vm_state != "shelved_offloaded":
            log.warning("instance %s (%s) has no guest on %s", uuid, vm_state, self.host)
            await self._conductor("instance_fault", instance_id=uuid, code=500, message=(
                f"Instance {uuid} has no guest on {self.host} (lost while its compute agent was down)"))
            return
        if task is not None:
            power = guest["power_state"] if guest else base.NOSTATE
            values = {"power_state": power}
            if vm_state not in KEPT_VM_STATES and power in VM_STATE_OF_POWER:
                values["vm_state"] = VM_STATE_OF_POWER[power]
            await self._clear_task(record, values)

    async def _clear_task(self, record: dict, values: dict) -> None:
        log.info("instance %s: clearing task %s left by the previous run", record["uuid"], record["task_state"])
        await self._conductor("instance_update", instance_id=record["uuid"], values=dict(
            values, task_state=None, expected_task_state=record["task_state"]))

    async def _undo_interrupted_build(self, record: dict) -> None:
        """Guest, disks, ports and network_info of a build that never finished; each step tried."""
        uuid = record["uuid"]
        steps = [("destroy the guest", lambda: self.driver.destroy(record)),
                 ("remove the instance directory",
                  lambda: remove_instance_dir(InstancePaths(self.instances_dir, uuid))),
                 ("release the ports", lambda: self.network.deallocate(record)),
                 ("clear network_info", lambda: self._conductor(
                     "instance_update", instance_id=uuid, values={"network_info": []}))]
        for what, step in steps:
            try:
                await step()
            except Exception as e:
                log.warning("instance %s: failed to %s after an interrupted build: %s", uuid, what, e)

    # -- power-state sync ---------------------------------------------------------------
    async def sync_power_states(self) -> int:
        """One pass of the power-state sync (module docstring); returns the instances changed."""
        guests = {g["uuid"]: g for g in await self.driver.list_instances()}
        records = await self._host_instances()
        changed = 0
        for record in (records or {}).values():
            uuid = record["uuid"]
            if not self._live_here(record) or record.get("task_state") is not None or uuid in self._locks:
                continue
            async with self._serialized(uuid):
                guest = guests.get(uuid)
                try:
                    changed += await self._sync_instance(record, guest["power_state"] if guest else base.NOSTATE)
                except Exception as e:
                    log.warning("instance %s: power state not synced: %s", uuid, e)
        return changed

    async def _sync_instance(self, record: dict, power: int) -> int:
        uuid, vm_state = record["uuid"], record.get("vm_state")
        values = {}
        if power != record.get("power_state"):
            values["power_state"] = power
        if vm_state in SYNC_IGNORED:
            pass
        elif (vm_state == "active" and power in (base.SHUTDOWN, base.CRASHED, base.SUSPENDED)) or (
                vm_state == "paused" and power in (base.SHUTDOWN, base.CRASHED)):
            log.warning("instance %s (%s) was powered off outside kumo (power state %s): stopping it",
                        uuid, vm_state, power)
            if power != base.SHUTDOWN:
                await self.driver.power_off(record)
            values.update(vm_state="stopped", power_state=base.SHUTDOWN)
        elif vm_state == "stopped" and power not in (base.NOSTATE, base.SHUTDOWN, base.CRASHED):
            log.warning("instance %s is stopped but its guest runs: powering it off", uuid)
            await self.driver.power_off(record)
            values["power_state"] = base.SHUTDOWN
        elif vm_state == "soft-delete" and power not in (base.NOSTATE, base.SHUTDOWN):
            log.warning("instance %s is soft-deleted but its guest runs: powering it off", uuid)
            await self.driver.power_off(record)
            values["power_state"] = base.SHUTDOWN
        if not values or values == {"power_state": record.get("power_state")}:
            return 0
        await self._conductor("instance_update", instance_id=uuid,
                              values=dict(values, expected_task_state=None))
        return 1

    # -- image cache ----------------------------------------------------------------------
    async def age_image_cache(self, now: float | None = None) -> list[str]:
        """Remove unused cached images older than ``[compute] image_cache_max_age``; returns
        their ids. Skipped (nothing removed) when the conductor cannot list this host's instances."""
        records = await self._host_instances()
        if records is None:
            return []
        usage = await asyncio.to_thread(self.images.usage, [r for r in records.values() if not r.get("deleted")])
        return self.images.age(usage, self.settings.compute.image_cache_max_age,
                               time.time() if now is None else now)
