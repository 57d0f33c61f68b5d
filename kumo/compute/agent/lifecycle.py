"""Server lifecycle operations of the compute agent (Compute API "Servers - run an action").

:class:`LifecycleOps` is mixed into :class:`~kumo.compute.agent.manager.ComputeManager`:
pause/unpause, suspend/resume, rescue/unrescue, rebuild, resize with confirm/revert,
snapshot (createImage, createBackup), shelve, shelve offload and unshelve, soft delete and
restore. Each runs under the instance's lock; the compute API set the first task_state,
the agent walks nova's task states through the conductor and ends with task_state None.
A failure puts back what the operation changed on the node and clears task_state
(vm_state stays) so the server can be used again.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

from kumo.common.db import isotime, utcnow
from kumo.common.host import qemu_img
from kumo.compute.virt import base, configdrive
from kumo.compute.virt.images import ImageGone
from kumo.compute.virt.disk import (create_disks, existing_disks, grow_root, remove_instance_dir,
                                    rescue_disk, resize_backup)

log = logging.getLogger(__name__)

#: stable device rescue: hw_rescue_bus -> the target device prefix on that bus
RESCUE_BUSES = {"virtio": "vd", "scsi": "sd", "usb": "sd", "sata": "sd", "ide": "hd"}


def stable_rescue_device(image: dict, disks: dict) -> dict | None:
    """The rescue disk of a stable device rescue, ``{"target", "bus", "device"}``, from the
    rescue image's ``hw_rescue_device`` (disk, default; cdrom) and ``hw_rescue_bus`` (virtio,
    default for a disk; scsi, usb, sata; ide, default for a cdrom); the target is the first
    free name on that bus next to ``disks`` (target -> file). None for a legacy rescue (the
    image has neither property); VirtError for values libvirt cannot attach."""
    device, bus = image.get("hw_rescue_device"), image.get("hw_rescue_bus")
    if not device and not bus:
        return None
    device = device or "disk"
    if device not in ("disk", "cdrom"):
        raise base.VirtError(f"Unsupported hw_rescue_device {device!r}: disk or cdrom")
    bus = bus or ("ide" if device == "cdrom" else "virtio")
    if bus not in RESCUE_BUSES or (device == "cdrom" and bus == "virtio"):
        raise base.VirtError(f"Unsupported hw_rescue_bus {bus!r} for a {device} rescue device")
    prefix = RESCUE_BUSES[bus]
    target = next(prefix + c for c in "abcdefghijklmnopqrstuvwxyz" if prefix + c not in disks)
    return {"target": target, "bus": bus, "device": device}


#: agent bus method -> (instance action event, action) as nova names them (os-instance-actions)
LIFECYCLE_EVENTS = {
    "pause_instance": ("compute_pause_instance", "pause"),
    "unpause_instance": ("compute_unpause_instance", "unpause"),
    "suspend_instance": ("compute_suspend_instance", "suspend"),
    "resume_instance": ("compute_resume_instance", "resume"),
    "rescue_instance": ("compute_rescue_instance", "rescue"),
    "unrescue_instance": ("compute_unrescue_instance", "unrescue"),
    "resize_instance": ("compute_resize_instance", "resize"),
    "confirm_resize": ("compute_confirm_resize", "confirmResize"),
    "revert_resize": ("compute_revert_resize", "revertResize"),
    "rebuild_instance": ("compute_rebuild_instance", "rebuild"),
    "snapshot_instance": ("compute_snapshot_instance", None),
    "shelve_instance": ("compute_shelve_instance", "shelve"),
    "shelve_offload_instance": ("compute_shelve_offload_instance", "shelveOffload"),
    "unshelve_instance": ("compute_unshelve_instance", "unshelve"),
    "soft_delete_instance": ("compute_soft_delete_instance", "delete"),
    "restore_instance": ("compute_restore_instance", "restore"),
}


class BuildAborted(Exception):
    """The conductor refused a state change (instance deleted or changed meanwhile)."""


class LifecycleOps:
    """Needs the manager's ``driver``, ``glance``, ``images``, ``network``, ``paths()``,
    ``_serialized()``, ``_update()`` and ``instances_dir``."""

    async def _task(self, instance: dict, name: str, work, done: dict, undo=None) -> None:
        """Run ``work()`` (its dict result is merged into ``done``) under the instance's lock,
        then write ``done``; on an error run ``undo()``, clear task_state and re-raise (the
        instance action event ends in Error)."""
        uuid = instance["uuid"]
        async with self._serialized(uuid):
            try:
                values = dict(done, **(await work() or {}))
            except Exception as e:
                gone = isinstance(e, BuildAborted)  # deleted (or reset) meanwhile: stop quietly
                log.warning("instance %s: %s %s: %s", uuid, name, "abandoned" if gone else "failed", e,
                            exc_info=not isinstance(e, (base.VirtError, BuildAborted)))
                if undo is not None:
                    try:
                        await undo()
                    except Exception:
                        log.exception("instance %s: undoing the failed %s failed", uuid, name)
                if gone:
                    return
                power = await self.driver.power_state(instance)
                await self._update(uuid, task_state=None, power_state=power)
                raise
            await self._update(uuid, **values)
        log.info("instance %s: %s done", uuid, name)

    # -- pause, suspend -------------------------------------------------------------------
    async def pause_instance(self, instance: dict) -> None:
        """Pause the guest; vm_state paused, power_state PAUSED."""
        await self._task(instance, "pause", lambda: self.driver.pause(instance),
                         {"vm_state": "paused", "power_state": base.PAUSED, "task_state": None})

    async def unpause_instance(self, instance: dict) -> None:
        """Unpause the guest; vm_state active."""
        await self._task(instance, "unpause", lambda: self.driver.unpause(instance),
                         {"vm_state": "active", "power_state": base.RUNNING, "task_state": None})

    async def suspend_instance(self, instance: dict) -> None:
        """Suspend the guest to disk; vm_state suspended, power_state SUSPENDED."""
        await self._task(instance, "suspend", lambda: self.driver.suspend(instance),
                         {"vm_state": "suspended", "power_state": base.SUSPENDED, "task_state": None})

    async def resume_instance(self, instance: dict) -> None:
        """Resume a suspended guest; vm_state active."""
        await self._task(instance, "resume",
                         lambda: self.driver.resume(instance, instance.get("network_info") or []),
                         {"vm_state": "active", "power_state": base.RUNNING, "task_state": None})

    # -- rescue -----------------------------------------------------------------------------
    async def rescue_instance(self, instance: dict, rescue_image_ref: str) -> None:
        """Boot ``rescue_image_ref`` (a fresh overlay ``disk.rescue``); vm_state rescued.

        Legacy rescue: the rescue disk is vda and the server's own disk vdb. Stable device
        rescue (the rescue image has ``hw_rescue_device`` and/or ``hw_rescue_bus``): the
        server's disks keep their devices and the rescue disk is added on that bus and booted
        first (:func:`stable_rescue_device`; the instance dict given to the driver carries
        it as ``rescue_device``)."""
        paths = self.paths(instance)
        nics = instance.get("network_info") or []
        was_running = await self.driver.power_state(instance) == base.RUNNING

        async def work():
            meta = await self.glance.show(rescue_image_ref)
            image = await self.images.fetch(meta, lambda write: self.glance.download(rescue_image_ref, write))
            target = rescue_disk(paths)
            target.unlink(missing_ok=True)
            await qemu_img.create_overlay(image.path, target, None, image.format)
            os.chmod(target, 0o644)
            own = existing_disks(paths)
            device = stable_rescue_device(meta, own)
            if device is not None:
                await self.driver.redefine(dict(instance, rescue_device=device), nics, paths,
                                           dict(own, **{device["target"]: target}), start=True)
                return
            disks = {"vda": target, "vdb": paths.disk}
            drive = configdrive.config_drive_path(paths)
            if drive.exists():
                disks[configdrive.TARGET] = drive
            await self.driver.redefine(instance, nics, paths, disks, start=True)

        async def undo():
            rescue_disk(paths).unlink(missing_ok=True)
            await self.driver.redefine(instance, nics, paths, existing_disks(paths), start=was_running)

        await self._task(instance, "rescue", work,
                         {"vm_state": "rescued", "power_state": base.RUNNING, "task_state": None}, undo)

    async def unrescue_instance(self, instance: dict) -> None:
        """Boot the server's own disks again and drop the rescue disk; vm_state active."""
        paths = self.paths(instance)

        async def work():
            await self.driver.redefine(instance, instance.get("network_info") or [], paths,
                                       existing_disks(paths), start=True)
            rescue_disk(paths).unlink(missing_ok=True)

        await self._task(instance, "unrescue", work,
                         {"vm_state": "active", "power_state": base.RUNNING, "task_state": None})

    # -- resize -------------------------------------------------------------------------------
    async def resize_instance(self, instance: dict) -> None:
        """Apply ``system_metadata["new_flavor"]`` on this node: stop the guest, keep a copy of
        the root disk for a revert, grow the disk, redefine the guest with the new RAM/vCPUs and
        start it if it ran; vm_state resized (VERIFY_RESIZE)."""
        uuid, paths = instance["uuid"], self.paths(instance)
        sysmeta = instance.get("system_metadata") or {}
        new, old = sysmeta["new_flavor"], sysmeta.get("old_flavor") or instance["flavor"]
        was_running = await self.driver.power_state(instance) == base.RUNNING
        nics = instance.get("network_info") or []

        async def work():
            await self._update(uuid, task_state="resize_migrating", expected_task_state="resize_prep")
            if was_running:
                await self.driver.power_off(instance)
            await asyncio.to_thread(shutil.copyfile, paths.disk, resize_backup(paths))
            await self._update(uuid, task_state="resize_migrated", expected_task_state="resize_migrating")
            await self._update(uuid, task_state="resize_finish", expected_task_state="resize_migrated")
            if int(new.get("disk") or 0) > int(old.get("disk") or 0):
                await grow_root(paths, int(new["disk"]))
            await self.driver.redefine(dict(instance, flavor=new), nics, paths, existing_disks(paths),
                                       start=was_running)
            return {"power_state": base.RUNNING if was_running else base.SHUTDOWN}

        async def undo():
            await self._update(uuid, migration_status="error")
            backup = resize_backup(paths)
            if backup.exists():
                await asyncio.to_thread(os.replace, backup, paths.disk)
            await self.driver.redefine(dict(instance, flavor=old), nics, paths, existing_disks(paths),
                                       start=was_running)

        await self._task(instance, "resize", work, {"vm_state": "resized", "task_state": None,
                                                    "flavor": new, "flavor_id": new["id"],
                                                    "migration_status": "finished"}, undo)

    async def confirm_resize(self, instance: dict) -> None:
        """Forget the pre-resize disk; vm_state back to what it was (active or stopped)."""
        paths = self.paths(instance)
        sysmeta = dict(instance.get("system_metadata") or {})
        state = sysmeta.pop("old_vm_state", "active")
        sysmeta.pop("old_flavor", None)
        sysmeta.pop("new_flavor", None)

        async def work():
            resize_backup(paths).unlink(missing_ok=True)

        await self._task(instance, "confirm resize", work, {"vm_state": state, "task_state": None,
                                                            "system_metadata": sysmeta,
                                                            "migration_status": "confirmed"})

    async def revert_resize(self, instance: dict) -> None:
        """Put the pre-resize disk back and redefine the guest with the old flavor; vm_state
        back to what it was before the resize."""
        paths = self.paths(instance)
        sysmeta = dict(instance.get("system_metadata") or {})
        old = sysmeta.pop("old_flavor")
        state = sysmeta.pop("old_vm_state", "active")
        sysmeta.pop("new_flavor", None)
        start = state == "active"

        async def work():
            backup = resize_backup(paths)
            await self.driver.power_off(instance)
            if backup.exists():
                await asyncio.to_thread(os.replace, backup, paths.disk)
            await self.driver.redefine(dict(instance, flavor=old), instance.get("network_info") or [],
                                       paths, existing_disks(paths), start=start)

        await self._task(instance, "revert resize", work, {
            "vm_state": state, "task_state": None, "flavor": old, "flavor_id": old["id"],
            "power_state": base.RUNNING if start else base.SHUTDOWN, "system_metadata": sysmeta,
            "migration_status": "reverted"})

    # -- rebuild -------------------------------------------------------------------------------
    async def rebuild_instance(self, instance: dict, preserve_ephemeral: bool = False) -> None:
        """Replace the root disk with a fresh one of ``instance["image_ref"]`` (the API stored the
        new image, key, metadata), keep the ports and IPs (and the ephemeral disk with
        ``preserve_ephemeral``); the server ends as it was (active, or stopped)."""
        uuid, paths = instance["uuid"], self.paths(instance)
        nics = instance.get("network_info") or []
        stopped = instance.get("vm_state") == "stopped"
        old_dir = paths.dir.with_name(paths.dir.name + ".rebuild")

        async def work():
            await self._update(uuid, task_state="rebuild_block_device_mapping", expected_task_state="rebuilding")
            meta = await self.glance.show(instance["image_ref"])
            image = await self.images.fetch(
                meta, lambda write: self.glance.download(instance["image_ref"], write))
            await self.driver.destroy(instance)
            await asyncio.to_thread(shutil.rmtree, old_dir, True)
            await asyncio.to_thread(os.rename, paths.dir, old_dir)
            disks = await create_disks(paths, image, instance["flavor"])
            kept = old_dir / paths.disk_local.name
            if preserve_ephemeral and kept.exists() and paths.disk_local.exists():
                await asyncio.to_thread(os.replace, kept, paths.disk_local)
            if instance.get("config_drive"):
                disks[configdrive.TARGET] = await configdrive.make_config_drive(paths, instance, nics)
            await self._update(uuid, task_state="rebuild_spawning",
                               expected_task_state="rebuild_block_device_mapping")
            await self.driver.spawn(instance, nics, paths, disks)
            if stopped:
                await self.driver.power_off(instance)
            await asyncio.to_thread(shutil.rmtree, old_dir, True)
            return {"power_state": base.SHUTDOWN if stopped else base.RUNNING}

        async def undo():
            if not old_dir.exists():
                return
            await self.driver.destroy(instance)
            await remove_instance_dir(paths)
            await asyncio.to_thread(os.rename, old_dir, paths.dir)
            await self.driver.spawn(instance, nics, paths, existing_disks(paths))
            if stopped:
                await self.driver.power_off(instance)

        await self._task(instance, "rebuild", work, {
            "vm_state": "stopped" if stopped else "active", "task_state": None,
            "launched_at": isotime(utcnow(), micro=True)}, undo)

    # -- snapshots, shelve ---------------------------------------------------------------------
    async def _upload_snapshot(self, instance: dict, image_id: str, tasks: tuple[str, str, str]) -> None:
        """Copy the root disk (task ``tasks[1]``), upload it as ``image_id`` (``tasks[2]``)."""
        uuid = instance["uuid"]
        work_dir = Path(self.instances_dir, "_snapshots")
        await asyncio.to_thread(work_dir.mkdir, 0o700, True, True)
        target = work_dir / f"{image_id}.qcow2"
        try:
            await self._update(uuid, task_state=tasks[1], expected_task_state=tasks[0])
            await self.driver.snapshot(instance, self.paths(instance).disk, target)
            await self._update(uuid, task_state=tasks[2], expected_task_state=tasks[1])
            await self.glance.upload(image_id, target)
        finally:
            target.unlink(missing_ok=True)

    async def snapshot_instance(self, instance: dict, image_id: str, rotation: int | None = None,
                                backup_type: str | None = None) -> None:
        """createImage / createBackup: the root disk as a qcow2 into the queued image
        ``image_id`` (task_state image_snapshot or image_backup -> image_pending_upload ->
        image_uploading -> None); on a failure the image is deleted; an image deleted meanwhile
        ends the snapshot quietly (as nova). A backup then keeps only the newest ``rotation``
        backups of ``backup_type`` of the server."""
        first = "image_backup" if backup_type else "image_snapshot"

        async def work():
            try:
                await self._upload_snapshot(instance, image_id, (first, "image_pending_upload", "image_uploading"))
            except ImageGone:
                log.warning("instance %s: image %s was deleted during the snapshot", instance["uuid"], image_id)
                return
            if backup_type and rotation is not None:
                await self._rotate_backups(instance, backup_type, rotation)

        await self._task(instance, "snapshot", work, {"task_state": None}, lambda: self.glance.delete(image_id))

    async def _rotate_backups(self, instance: dict, backup_type: str, rotation: int) -> None:
        backups = await self.glance.list({"instance_uuid": instance["uuid"], "image_type": "backup",
                                          "backup_type": backup_type, "sort_key": "created_at",
                                          "sort_dir": "desc"})
        for old in backups[rotation:]:
            log.info("instance %s: rotating out backup %s", instance["uuid"], old["id"])
            await self.glance.delete(old["id"])

    async def shelve_instance(self, instance: dict, image_id: str, offload: bool) -> None:
        """Snapshot into ``image_id``, power off; vm_state shelved; with ``offload`` go on to
        :meth:`shelve_offload_instance` at once (nova's shelved_offload_time 0)."""
        sysmeta = dict(instance.get("system_metadata") or {}, shelved_image_id=image_id,
                       shelved_host=self.host)

        async def work():
            await self._upload_snapshot(instance, image_id, (
                "shelving", "shelving_image_pending_upload", "shelving_image_uploading"))
            await self.driver.power_off(instance)

        await self._task(instance, "shelve", work, {
            "vm_state": "shelved", "power_state": base.SHUTDOWN, "system_metadata": sysmeta,
            "task_state": "shelving_offloading" if offload else None},
            lambda: self.glance.delete(image_id))
        if offload:
            await self.shelve_offload_instance(dict(instance, system_metadata=sysmeta,
                                                    task_state="shelving_offloading"))

    async def shelve_offload_instance(self, instance: dict) -> None:
        """Destroy the guest and its files, unbind its ports from this host (they keep their
        device and IPs); vm_state shelved_offloaded, no host (its resources are free)."""
        paths = self.paths(instance)

        async def work():
            await self.driver.destroy(instance)
            await remove_instance_dir(paths)
            return {"network_info": await self.network.rebind(instance.get("network_info") or [], "")}

        await self._task(instance, "shelve offload", work, {
            "vm_state": "shelved_offloaded", "power_state": base.NOSTATE, "task_state": None,
            "host": None, "node": None})

    async def unshelve_instance(self, instance: dict) -> None:
        """Shelved: power the guest on. Offloaded (the scheduler gave this host): boot the
        shelved snapshot with the server's own ports; then delete the snapshot image."""
        uuid, paths = instance["uuid"], self.paths(instance)
        sysmeta = dict(instance.get("system_metadata") or {})
        image_id = sysmeta.pop("shelved_image_id", None)
        sysmeta.pop("shelved_host", None)

        async def work():
            if instance.get("vm_state") == "shelved":
                await self.driver.power_on(instance)
                return {}
            await self._update(uuid, task_state="spawning", expected_task_state="unshelving")
            nics = await self.network.rebind(instance.get("network_info") or [], self.host)
            meta = await self.glance.show(image_id)
            image = await self.images.fetch(meta, lambda write: self.glance.download(image_id, write))
            disks = await create_disks(paths, image, instance["flavor"])
            if instance.get("config_drive"):
                disks[configdrive.TARGET] = await configdrive.make_config_drive(paths, instance, nics)
            await self.driver.spawn(instance, nics, paths, disks)
            return {"network_info": nics}

        async def undo():
            if instance.get("vm_state") == "shelved_offloaded":
                await self.driver.destroy(instance)
                await remove_instance_dir(paths)

        await self._task(instance, "unshelve", work, {
            "vm_state": "active", "power_state": base.RUNNING, "task_state": None,
            "system_metadata": sysmeta}, undo)
        if image_id:
            try:
                await self.glance.delete(image_id)
            except Exception as e:
                log.warning("instance %s: shelved image %s not deleted: %s", uuid, image_id, e)

    # -- soft delete ------------------------------------------------------------------------------
    async def soft_delete_instance(self, instance: dict) -> None:
        """Power the guest off, keep everything; vm_state soft-delete (SOFT_DELETED)."""
        await self._task(instance, "soft delete", lambda: self.driver.power_off(instance),
                         {"vm_state": "soft-delete", "power_state": base.SHUTDOWN, "task_state": None})

    async def restore_instance(self, instance: dict) -> None:
        """Power a soft-deleted guest on again; vm_state active."""
        await self._task(instance, "restore", lambda: self.driver.power_on(instance),
                         {"vm_state": "active", "power_state": base.RUNNING, "task_state": None})
