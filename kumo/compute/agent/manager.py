"""The compute manager: builds, deletes and operates the instances of one node.

:class:`ComputeManager` does the work; :class:`ComputeEndpoint` is the object
served on the bus topic ``compute`` (server = ``[common] host``), so only its
methods are callable remotely. Instance state goes to the conductor
(``instance_update``, ``instance_fault``, ``instance_destroyed`` on topic
``conductor``), following nova's build sequence: task_state ``networking`` ->
``block_device_mapping`` -> ``spawning`` -> vm_state ``active``.

Operations on one instance are serialized (a lock per uuid): a terminate that
arrives during a build runs after the build finished or was undone.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from contextlib import asynccontextmanager
from datetime import datetime, timezone

from kumo.compute.agent.imageclient import ImageClient
from kumo.compute.agent.lifecycle import LIFECYCLE_EVENTS, BuildAborted, LifecycleOps
from kumo.compute.agent.network import NetworkClient, NetworkError
from kumo.compute.agent.sync import HostSync
from kumo.compute.instance_actions import EventReporter
from kumo.compute.virt import base, configdrive
from kumo.compute.virt.base import ComputeDriver, InstancePaths, VirtError
from kumo.compute.virt.disk import create_disks, remove_instance_dir
from kumo.compute.virt.images import ImageCache, ImageError

log = logging.getLogger(__name__)

#: errors whose message is shown as the fault as it is
KNOWN_ERRORS = (ImageError, NetworkError, VirtError)


def _now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class ComputeManager(LifecycleOps, HostSync):
    """Instances of node ``rt.settings.common.host`` on ``driver`` (the lifecycle actions:
    :class:`~kumo.compute.agent.lifecycle.LifecycleOps`; start-up reconcile, power-state sync
    and image cache ageing: :class:`~kumo.compute.agent.sync.HostSync`)."""

    def __init__(self, rt, driver: ComputeDriver):
        self.rt = rt
        self.settings = rt.settings
        self.host = rt.settings.common.host
        self.driver = driver
        self.instances_dir = rt.settings.instances_dir
        self.images = ImageCache(self.instances_dir)
        self.network = NetworkClient(rt.service_auth, self.host, rt.settings.network.physical_bridges)
        self.glance = ImageClient(rt.service_auth)
        self._locks: dict[str, list] = {}  # uuid -> [Lock, users]
        #: time.time() of the last successful report to the conductor (None before the first)
        self.last_report: float | None = None

    # -- helpers ------------------------------------------------------------
    def paths(self, instance: dict) -> InstancePaths:
        return InstancePaths(self.instances_dir, instance["uuid"])

    @asynccontextmanager
    async def _serialized(self, uuid: str):
        """Hold the instance's lock; the lock is dropped when nobody uses or awaits it."""
        entry = self._locks.setdefault(uuid, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(uuid, None)

    async def _conductor(self, method: str, **kwargs):
        return await self.rt.bus.call("conductor", method, **kwargs)

    async def _update(self, uuid: str, **values) -> dict:
        try:
            return await self._conductor("instance_update", instance_id=uuid, values=values)
        except Exception as e:
            raise BuildAborted(f"instance_update refused: {e}") from e

    async def _notify(self, event: str, instance: dict, **extra) -> None:
        flavor = instance.get("flavor") or {}
        payload = {"instance_id": instance["uuid"], "tenant_id": instance.get("project_id"),
                   "user_id": instance.get("user_id"), "display_name": instance.get("display_name"),
                   "host": self.host, "instance_type": flavor.get("name"),
                   "memory_mb": flavor.get("ram"), "vcpus": flavor.get("vcpus"),
                   "root_gb": flavor.get("disk"), "image_ref": instance.get("image_ref"), **extra}
        try:
            await self.rt.bus.notify(event, payload)
        except Exception:
            log.debug("notification %s failed", event, exc_info=True)

    # -- start/stop -----------------------------------------------------------
    async def prepare(self) -> None:
        """Connect the driver, create the instances dir and image cache, reconcile the host with
        the database (:meth:`~kumo.compute.agent.sync.HostSync.reconcile`)."""
        await self.driver.init_host(self.host)
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.instances_dir, 0o755)
        self.images.prepare()
        await self.reconcile()

    async def report(self) -> None:
        """Heartbeat ``nova-compute`` and report this node's resources to the conductor."""
        await self._conductor("service_heartbeat", host=self.host, binary="nova-compute", topic="compute")
        node = await self.driver.host_stats()
        node.update(host=self.host, host_ip=self.settings.common.public_host)
        await self._conductor("report_compute_node", node=node)
        self.last_report = time.time()

    # -- build ------------------------------------------------------------------
    async def build_instance(self, instance: dict) -> None:
        """Allocate ports, fetch the image, make the disks and start the guest; fault on failure."""
        uuid = instance["uuid"]
        async with self._serialized(uuid):
            await self._build(instance)

    async def _build(self, instance: dict) -> None:
        uuid = instance["uuid"]
        paths = self.paths(instance)
        created: list[str] = []
        bound: list[str] = []
        state = {"network_saved": False, "disks": False, "spawning": False}
        try:
            await self._update(uuid, task_state="networking",
                               expected_task_state=instance.get("task_state"))
            network_info = await self.network.allocate(instance, created, bound)
            await self._update(uuid, network_info=network_info, task_state="block_device_mapping",
                               expected_task_state="networking")
            state["network_saved"] = True
            await self._update(uuid, task_state="spawning", expected_task_state="block_device_mapping")
            if not instance.get("image_ref"):
                raise ImageError("Instance has no image to boot from (booting from volumes is not supported)")
            meta = await self.glance.show(instance["image_ref"])
            image = await self.images.fetch(
                meta, lambda write: self.glance.download(instance["image_ref"], write))
            disks = await create_disks(paths, image, instance["flavor"])
            state["disks"] = True
            if instance.get("config_drive"):
                disks[configdrive.TARGET] = await configdrive.make_config_drive(paths, instance, network_info)
            state["spawning"] = True
            await self.driver.spawn(instance, network_info, paths, disks)
            await self._update(uuid, vm_state="active", power_state=base.RUNNING, task_state=None,
                               launched_at=_now(), expected_task_state="spawning")
        except Exception as e:
            await self._undo_build(instance, paths, state, created, bound)
            await self._build_failed(instance, e)
            return
        log.info("instance %s is active on %s", uuid, self.host)  # the conductor notifies create.end

    async def _undo_build(self, instance: dict, paths: InstancePaths, state: dict,
                          created: list[str], bound: list[str]) -> None:
        """Remove what a failed build made: guest, disks, ports; every step is attempted."""
        uuid = instance["uuid"]
        steps = []
        if state["spawning"]:
            steps.append(("destroy the guest", lambda: self.driver.destroy(instance)))
        if state["disks"]:
            steps.append(("remove the instance directory", lambda: remove_instance_dir(paths)))
        for port_id in created:
            steps.append((f"delete port {port_id}", lambda p=port_id: self.network.delete_port(p)))
        for port_id in bound:
            steps.append((f"unbind port {port_id}", lambda p=port_id: self.network.unbind_port(p)))
        if state["network_saved"]:
            steps.append(("clear network_info",
                          lambda: self._conductor("instance_update", instance_id=uuid,
                                                  values={"network_info": []})))
        for what, step in steps:
            try:
                await step()
            except Exception:
                log.exception("instance %s: failed to %s after a failed build", uuid, what)

    async def _build_failed(self, instance: dict, error: Exception) -> None:
        uuid = instance["uuid"]
        if isinstance(error, KNOWN_ERRORS):
            message, details = str(error), ""
        elif isinstance(error, BuildAborted):
            log.warning("instance %s: build aborted: %s", uuid, error)
            message, details = f"Build of instance {uuid} aborted: {error}", ""
        else:
            log.exception("instance %s: build failed", uuid, exc_info=error)
            message = f"Build of instance {uuid} failed: {type(error).__name__}: {error}"
            details = "".join(traceback.format_exception(error))[-4000:]
        log.warning("instance %s failed to build: %s", uuid, message)
        try:
            await self._conductor("instance_fault", instance_id=uuid, message=message, code=500,
                                  details=details)
        except Exception:
            log.exception("instance %s: could not record the build fault", uuid)
        await self._notify("compute.instance.create.error", instance, message=message)

    # -- terminate ----------------------------------------------------------------
    async def terminate_instance(self, instance: dict) -> None:
        """Destroy the guest, release the ports, remove the files, then instance_destroyed.

        On a failure nothing more is removed and the instance gets a fault
        (vm_state error) so a later delete can retry.
        """
        uuid = instance["uuid"]
        async with self._serialized(uuid):
            try:
                await self.driver.destroy(instance)
                await self.network.deallocate(instance)
                await remove_instance_dir(self.paths(instance))
            except Exception as e:
                message = str(e) if isinstance(e, KNOWN_ERRORS) else f"{type(e).__name__}: {e}"
                log.warning("instance %s: terminate failed: %s", uuid, message)
                await self._conductor("instance_fault", instance_id=uuid,
                                      message=f"Failed to delete instance {uuid}: {message}", code=500)
                return
            await self._conductor("instance_destroyed", instance_id=uuid)
        log.info("instance %s deleted from %s", uuid, self.host)  # the conductor notifies delete.end

    # -- operations ---------------------------------------------------------------
    async def get_console_output(self, instance: dict, length: int | None = None) -> str:
        """The guest's serial console log (last ``length`` lines); raises InstanceNotFound."""
        if length is not None:
            length = int(length)
        return await self.driver.get_console_output(instance, length)

    async def get_vnc_console(self, instance: dict) -> dict:
        """Where the console proxy reaches the guest's VNC server: ``{"host": [vnc]
        server_proxyclient_address, "port": int, "internal_access_path": None}``; raises
        InstanceNotFound, VirtError (not running), ConsoleTypeUnavailable."""
        port = await self.driver.get_vnc_port(instance)
        return {"host": self.rt.settings.vnc.server_proxyclient_address, "port": port,
                "internal_access_path": None}

    async def _power_action(self, instance: dict, action, done: dict) -> None:
        uuid = instance["uuid"]
        async with self._serialized(uuid):
            try:
                await action()
            except Exception as e:
                log.warning("instance %s: %s", uuid, e)
                power = await self.driver.power_state(instance)
                await self._update(uuid, task_state=None, power_state=power)
                raise
            await self._update(uuid, **done)

    async def stop_instance(self, instance: dict) -> None:
        """Power the guest off (ACPI first); vm_state stopped, power_state shutdown."""
        await self._power_action(instance, lambda: self.driver.power_off(instance),
                                 {"vm_state": "stopped", "power_state": base.SHUTDOWN, "task_state": None})

    async def start_instance(self, instance: dict) -> None:
        """Power a stopped guest on; vm_state active, power_state running."""
        await self._power_action(instance, lambda: self.driver.power_on(instance),
                                 {"vm_state": "active", "power_state": base.RUNNING, "task_state": None})

    async def reboot_instance(self, instance: dict, reboot_type: str = "SOFT") -> None:
        """Reboot (``reboot_type`` SOFT or HARD); vm_state active, power_state running."""
        hard = str(reboot_type).upper() == "HARD"
        await self._power_action(instance, lambda: self.driver.reboot(instance, hard=hard),
                                 {"vm_state": "active", "power_state": base.RUNNING, "task_state": None})


    # -- interfaces (os-interface) -----------------------------------------------
    async def attach_interface(self, instance: dict, network_id: str | None = None,
                               port_id: str | None = None, fixed_ip: str | None = None) -> dict:
        """Bind ``port_id`` (or create a port on ``network_id``, with ``fixed_ip``), hot-plug it
        and append it to the instance's network_info; returns the new network_info entry.

        Raises (kinds the compute API maps to HTTP): InterfaceConflict (port or address taken),
        InterfaceBadRequest, InterfaceNotFound, InterfaceAttachFailed (the driver refused; the
        port is released again).
        """
        uuid = instance["uuid"]
        async with self._serialized(uuid):
            request = dict(instance, requested_networks=[
                {"network_id": network_id, "port_id": port_id, "fixed_ip": fixed_ip}])
            created: list[str] = []
            bound: list[str] = []
            plugged: list[dict] = []
            try:
                vif = (await self.network.allocate(request, created, bound))[0]
                await self.driver.attach_interface(instance, vif)
                plugged.append(vif)
                current = [v for v in instance.get("network_info") or [] if v["port_id"] != vif["port_id"]]
                await self._update(uuid, network_info=current + [vif])
            except Exception as e:
                for done in plugged:
                    await self._quietly("unplug the interface", self.driver.detach_interface(instance, done))
                for pid in created:
                    await self._quietly(f"delete port {pid}", self.network.delete_port(pid))
                for pid in bound:
                    await self._quietly(f"unbind port {pid}", self.network.unbind_port(pid))
                raise interface_error(e, f"Failed to attach network adapter device to {uuid}") from None
        log.info("instance %s: attached port %s", uuid, vif["port_id"])
        return vif

    async def detach_interface(self, instance: dict, port_id: str) -> None:
        """Unplug port ``port_id`` from the guest, delete it if the agent created it (else
        unbind it) and drop it from network_info. Raises InterfaceNotFound, InterfaceAttachFailed."""
        uuid = instance["uuid"]
        async with self._serialized(uuid):
            vifs = instance.get("network_info") or []
            vif = next((v for v in vifs if v.get("port_id") == port_id), None)
            if vif is None:
                raise InterfaceNotFound(f"Port {port_id} is not attached")
            try:
                await self.driver.detach_interface(instance, vif)
                if vif.get("created_port"):
                    await self.network.delete_port(port_id)
                else:
                    await self.network.unbind_port(port_id)
                await self._update(uuid, network_info=[v for v in vifs if v.get("port_id") != port_id])
            except Exception as e:
                raise interface_error(e, f"Failed to detach network adapter device from {uuid}") from None
        log.info("instance %s: detached port %s", uuid, port_id)

    async def _quietly(self, what: str, step) -> None:
        try:
            await step
        except Exception:
            log.exception("failed to %s while undoing an interface attach", what)


class InterfaceConflict(Exception):
    """409: the port or fixed IP is in use."""


class InterfaceBadRequest(Exception):
    """400: the network API refused the request."""


class InterfaceNotFound(Exception):
    """404: no such port, network or attached interface."""


class InterfaceAttachFailed(Exception):
    """The hypervisor or the network API failed (nova's InterfaceAttachFailed)."""


def interface_error(error: Exception, fallback: str) -> Exception:
    """An agent failure as one of the interface error kinds (NetworkError keeps its HTTP status)."""
    status = getattr(error, "status", None)
    kinds = {409: InterfaceConflict, 400: InterfaceBadRequest, 404: InterfaceNotFound}
    if isinstance(error, NetworkError) and status in kinds:
        return kinds[status](str(error))
    if isinstance(error, base.InstanceNotFound):
        return InterfaceNotFound(str(error))
    if isinstance(error, (InterfaceNotFound, InterfaceConflict, InterfaceBadRequest)):
        return error
    return InterfaceAttachFailed(f"{fallback}: {error}")


class ComputeEndpoint:
    """What topic ``compute`` / ``compute.<host>`` serves (build/terminate are casts)."""

    def __init__(self, manager: ComputeManager):
        self._manager = manager
        #: instance action events (kumo.compute.instance_actions): ``async with self._event(...)``
        self._events = EventReporter(manager.rt.bus, manager.host)
        self._event = self._events.for_method

    async def build_instance(self, instance: dict) -> None:
        async with self._event("build_instance", instance):
            await self._manager.build_instance(instance)

    async def terminate_instance(self, instance: dict) -> None:
        async with self._event("terminate_instance", instance):
            await self._manager.terminate_instance(instance)

    async def get_console_output(self, instance: dict, length: int | None = None) -> str:
        return await self._manager.get_console_output(instance, length)

    async def get_vnc_console(self, instance: dict) -> dict:
        return await self._manager.get_vnc_console(instance)

    async def get_diagnostics(self, instance: dict) -> dict:
        """The guest's diagnostics (kumo.compute.virt.diagnostics shape); raises InstanceNotFound."""
        return await self._manager.driver.get_diagnostics(instance)

    async def set_admin_password(self, instance: dict, password: str) -> None:
        """changePassword: the driver sets the guest's admin password (action event
        ``compute_set_admin_password``); raises InstanceNotFound, PasswordNotSupported."""
        async with self._event("set_admin_password", instance):
            await self._manager.driver.set_admin_password(instance, password)

    async def stop_instance(self, instance: dict) -> None:
        async with self._event("stop_instance", instance):
            await self._manager.stop_instance(instance)

    async def start_instance(self, instance: dict) -> None:
        async with self._event("start_instance", instance):
            await self._manager.start_instance(instance)

    async def reboot_instance(self, instance: dict, reboot_type: str = "SOFT") -> None:
        async with self._event("reboot_instance", instance):
            await self._manager.reboot_instance(instance, reboot_type)

    async def attach_interface(self, instance: dict, network_id: str | None = None,
                               port_id: str | None = None, fixed_ip: str | None = None) -> dict:
        async with self._event("attach_interface", instance):
            return await self._manager.attach_interface(instance, network_id, port_id, fixed_ip)

    async def detach_interface(self, instance: dict, port_id: str) -> None:
        async with self._event("detach_interface", instance):
            await self._manager.detach_interface(instance, port_id)

    # -- lifecycle (kumo.compute.agent.lifecycle): casts ------------------------------------
    def _lifecycle(self, method: str, instance: dict):
        event, action = LIFECYCLE_EVENTS[method]
        return self._events.report(instance, event, action)

    async def pause_instance(self, instance: dict) -> None:
        async with self._lifecycle("pause_instance", instance):
            await self._manager.pause_instance(instance)

    async def unpause_instance(self, instance: dict) -> None:
        async with self._lifecycle("unpause_instance", instance):
            await self._manager.unpause_instance(instance)

    async def suspend_instance(self, instance: dict) -> None:
        async with self._lifecycle("suspend_instance", instance):
            await self._manager.suspend_instance(instance)

    async def resume_instance(self, instance: dict) -> None:
        async with self._lifecycle("resume_instance", instance):
            await self._manager.resume_instance(instance)

    async def rescue_instance(self, instance: dict, rescue_image_ref: str) -> None:
        async with self._lifecycle("rescue_instance", instance):
            await self._manager.rescue_instance(instance, rescue_image_ref)

    async def unrescue_instance(self, instance: dict) -> None:
        async with self._lifecycle("unrescue_instance", instance):
            await self._manager.unrescue_instance(instance)

    async def resize_instance(self, instance: dict) -> None:
        async with self._lifecycle("resize_instance", instance):
            await self._manager.resize_instance(instance)

    async def confirm_resize(self, instance: dict) -> None:
        async with self._lifecycle("confirm_resize", instance):
            await self._manager.confirm_resize(instance)

    async def revert_resize(self, instance: dict) -> None:
        async with self._lifecycle("revert_resize", instance):
            await self._manager.revert_resize(instance)

    async def rebuild_instance(self, instance: dict, preserve_ephemeral: bool = False) -> None:
        async with self._lifecycle("rebuild_instance", instance):
            await self._manager.rebuild_instance(instance, preserve_ephemeral)

    async def snapshot_instance(self, instance: dict, image_id: str, rotation: int | None = None,
                                backup_type: str | None = None) -> None:
        async with self._lifecycle("snapshot_instance", instance):
            await self._manager.snapshot_instance(instance, image_id, rotation, backup_type)

    async def shelve_instance(self, instance: dict, image_id: str, offload: bool = False) -> None:
        async with self._lifecycle("shelve_instance", instance):
            await self._manager.shelve_instance(instance, image_id, offload)

    async def shelve_offload_instance(self, instance: dict) -> None:
        async with self._lifecycle("shelve_offload_instance", instance):
            await self._manager.shelve_offload_instance(instance)

    async def unshelve_instance(self, instance: dict) -> None:
        async with self._lifecycle("unshelve_instance", instance):
            await self._manager.unshelve_instance(instance)

    async def soft_delete_instance(self, instance: dict) -> None:
        async with self._lifecycle("soft_delete_instance", instance):
            await self._manager.soft_delete_instance(instance)

    async def restore_instance(self, instance: dict) -> None:
        async with self._lifecycle("restore_instance", instance):
            await self._manager.restore_instance(instance)
