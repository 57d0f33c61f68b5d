"""The libvirt driver: QEMU guests (TCG or KVM) through libvirt-python.

``libvirt`` is imported when the driver connects, so the package imports
without the daemon or the binding. Every libvirt call is blocking and runs
in a thread (:func:`asyncio.to_thread`). Guests are defined persistently
(``defineXML`` + ``create``) so a restarted agent finds them; the serial
console goes to ``<instance_dir>/console.log`` through virtlogd.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

from kumo.compute.virt import base, diagnostics
from kumo.compute.virt.base import ComputeDriver, InstanceNotFound, InstancePaths, VirtError, tail_lines
from kumo.compute.virt.libvirt import config, events, vif as vifs
from kumo.compute.virt.libvirt.host import LibvirtUnavailable, choose_virt_type, ensure_libvirtd

log = logging.getLogger(__name__)

GiB = 1024 ** 3

#: libvirt virDomainState -> nova power state
POWER_STATES = {0: base.NOSTATE, 1: base.RUNNING, 2: base.RUNNING, 3: base.PAUSED, 4: base.SHUTDOWN,
                5: base.SHUTDOWN, 6: base.CRASHED, 7: base.SUSPENDED}


def _libvirt():
    import libvirt  # noqa: PLC0415 - lazy: unit tests run without the binding's daemon

    if not getattr(_libvirt, "quiet", False):
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors come as exceptions
        _libvirt.quiet = True
    return libvirt


def supports_direct_io(directory: Path) -> bool:
    """True if files in ``directory`` open with O_DIRECT (needed for cache="none")."""
    probe = Path(directory, f".directio.{os.getpid()}")
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600)
        os.close(fd)
        return True
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)


class LibvirtDriver(ComputeDriver):
    """A :class:`ComputeDriver` over a libvirt connection (``qemu:///system``)."""

    #: seconds a stop waits for the guest's ACPI shutdown before pulling the plug
    clean_shutdown_timeout = 60

    def __init__(self, uri: str, virt_type: str, instances_dir: str | os.PathLike,
                 vnc_listen: str = "127.0.0.1"):
        self.uri = uri
        self.vnc_listen = vnc_listen
        self.virt_type_setting = virt_type
        self.virt_type = "qemu"
        self.instances_dir = Path(instances_dir)
        self._conn = None
        self._connect_lock = asyncio.Lock()
        self.host = ""
        self._on_lifecycle = None  # watch_lifecycle's callback, registered on every new connection

    # -- connection -------------------------------------------------------
    async def _connection(self):
        async with self._connect_lock:
            if self._conn is not None:
                try:
                    if await asyncio.to_thread(self._conn.isAlive):
                        return self._conn
                except Exception:
                    pass
                self._conn = None
            libvirt = _libvirt()
            events_on = self._on_lifecycle is not None and events.start_event_loop(libvirt)
            try:
                self._conn = await asyncio.to_thread(libvirt.open, self.uri)
            except libvirt.libvirtError as e:
                raise VirtError(f"Cannot connect to libvirt at {self.uri}: {e}") from None
            if events_on:
                await asyncio.to_thread(events.watch, libvirt, self._conn, self._on_lifecycle)
            return self._conn

    def watch_lifecycle(self, callback) -> bool:
        """Lifecycle events through libvirt's event loop (:mod:`kumo.compute.virt.libvirt.events`)."""
        self._on_lifecycle = callback
        return True

    async def _call(self, fn, *args):
        libvirt = _libvirt()
        try:
            return await asyncio.to_thread(fn, *args)
        except libvirt.libvirtError as e:
            raise VirtError(str(e)) from None

    def _domcaps_has_kvm(self) -> bool:
        self._conn.getDomainCapabilities(None, "x86_64", None, "kvm", 0)
        return True

    async def init_host(self, host: str) -> None:
        """Connect and choose the domain type (see :func:`choose_virt_type`).

        For ``qemu:///system`` as root the daemons are started first when
        they are not running (:func:`ensure_libvirtd`), so ``kumo agent
        compute`` works on a freshly booted host without systemd.
        """
        self.host = host
        if self.uri == "qemu:///system" and os.geteuid() == 0:
            try:
                await asyncio.to_thread(ensure_libvirtd)
            except LibvirtUnavailable as e:
                raise VirtError(str(e)) from None
        await self._connection()
        self.virt_type = await asyncio.to_thread(choose_virt_type, self.virt_type_setting,
                                                 self._domcaps_has_kvm)
        log.info("libvirt driver on %s: virt_type %s", self.uri, self.virt_type)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.to_thread(conn.close)
            except Exception:
                log.debug("closing libvirt connection failed", exc_info=True)

    async def _lookup(self, instance: dict):
        """The domain of ``instance`` (by uuid), or None."""
        libvirt = _libvirt()
        conn = await self._connection()
        try:
            return await asyncio.to_thread(conn.lookupByUUIDString, instance["uuid"])
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise VirtError(str(e)) from None

    async def _domain(self, instance: dict):
        dom = await self._lookup(instance)
        if dom is None:
            raise InstanceNotFound(f"Instance {instance['uuid']} could not be found.")
        return dom

    # -- lifecycle --------------------------------------------------------
    def _paths(self, instance: dict) -> InstancePaths:
        return InstancePaths(self.instances_dir, instance["uuid"])

    async def spawn(self, instance: dict, network_info: list[dict], paths: InstancePaths,
                    disks: dict[str, Path]) -> None:
        conn = await self._connection()
        if await self._lookup(instance) is not None:
            raise VirtError(f"Domain {instance['instance_name']} already exists")
        for vif in network_info:
            await vifs.plug(vif)
        cache = None
        if self.virt_type == "kvm" and not await asyncio.to_thread(supports_direct_io, paths.dir):
            cache = "writeback"
        xml = config.domain_xml(instance, network_info, disks, paths.console_log, self.virt_type, cache,
                                self.vnc_listen)
        dom = await self._call(conn.defineXML, xml)
        try:
            await self._call(dom.create)
        except BaseException:
            await self._undefine(dom)
            raise
        log.info("spawned %s (%s)", instance["instance_name"], instance["uuid"])

    async def _undefine(self, dom) -> None:
        libvirt = _libvirt()
        # BIOS guests have no NVRAM; managed saves and snapshot metadata would block the undefine
        flags = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        try:
            await asyncio.to_thread(dom.undefineFlags, flags)
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise VirtError(f"Failed to undefine the domain: {e}") from None

    async def _hard_stop(self, dom) -> None:
        libvirt = _libvirt()
        for attempt in range(3):
            try:
                if not await asyncio.to_thread(dom.isActive):
                    return
                await asyncio.to_thread(dom.destroy)
                return
            except libvirt.libvirtError as e:
                code = e.get_error_code()
                if code in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID):
                    return
                if attempt == 2:
                    raise VirtError(f"Failed to stop the domain: {e}") from None
                await asyncio.sleep(1)  # qemu may be busy releasing devices (nova retries too)

    async def destroy(self, instance: dict) -> None:
        dom = await self._lookup(instance)
        if dom is None:
            return
        await self._hard_stop(dom)
        await self._undefine(dom)
        log.info("destroyed %s (%s)", instance.get("instance_name"), instance["uuid"])

    async def power_off(self, instance: dict) -> None:
        """ACPI shutdown, then a hard stop after :attr:`clean_shutdown_timeout` seconds (at once
        for a paused guest: it cannot answer ACPI)."""
        libvirt = _libvirt()
        dom = await self._domain(instance)
        if not await self._call(dom.isActive):
            return
        if (await self._call(dom.state))[0] == libvirt.VIR_DOMAIN_PAUSED:
            return await self._hard_stop(dom)
        try:
            await asyncio.to_thread(dom.shutdown)
            for _ in range(int(self.clean_shutdown_timeout * 2)):
                await asyncio.sleep(0.5)
                if not await asyncio.to_thread(dom.isActive):
                    return
        except libvirt.libvirtError:
            log.debug("clean shutdown of %s failed", instance["uuid"], exc_info=True)
        await self._hard_stop(dom)

    async def power_on(self, instance: dict) -> None:
        dom = await self._domain(instance)
        if await self._call(dom.isActive):
            return
        for vif in instance.get("network_info") or []:
            await vifs.plug(vif)
        await self._call(dom.create)

    async def reboot(self, instance: dict, hard: bool = False) -> None:
        """Soft: ask the guest (ACPI) to reboot; hard: stop and start the domain again."""
        dom = await self._domain(instance)
        if not hard and await self._call(dom.isActive):
            await self._call(dom.reboot, 0)
            return
        await self._hard_stop(dom)
        for vif in instance.get("network_info") or []:
            await vifs.plug(vif)
        await self._call(dom.create)

    # -- pause, suspend, redefinition, snapshot -------------------------------------
    async def pause(self, instance: dict) -> None:
        """virDomainSuspend: the vCPUs stop, memory stays (libvirt state paused)."""
        dom = await self._domain(instance)
        await self._call(dom.suspend)

    async def unpause(self, instance: dict) -> None:
        """virDomainResume of a paused guest."""
        dom = await self._domain(instance)
        await self._call(dom.resume)

    async def suspend(self, instance: dict) -> None:
        """virDomainManagedSave: memory to libvirt's save file, the qemu process ends."""
        dom = await self._domain(instance)
        await self._call(dom.managedSave, 0)

    async def resume(self, instance: dict, network_info: list[dict]) -> None:
        """Start the domain again: libvirt restores it from the managed save image."""
        dom = await self._domain(instance)
        for vif in network_info:
            await vifs.plug(vif)
        await self._call(dom.create)

    async def redefine(self, instance: dict, network_info: list[dict], paths: InstancePaths,
                       disks: dict[str, Path], start: bool) -> None:
        """Hard stop, drop a managed save, defineXML the new definition (same name and uuid
        replace the old one), then create it when ``start``."""
        conn = await self._connection()
        dom = await self._domain(instance)
        await self._hard_stop(dom)
        if await self._call(dom.hasManagedSaveImage, 0):
            await self._call(dom.managedSaveRemove, 0)
        cache = None
        if self.virt_type == "kvm" and not await asyncio.to_thread(supports_direct_io, paths.dir):
            cache = "writeback"
        xml = config.domain_xml(instance, network_info, disks, paths.console_log, self.virt_type, cache,
                                self.vnc_listen)
        dom = await self._call(conn.defineXML, xml)
        if start:
            for vif in network_info:
                await vifs.plug(vif)
            await self._call(dom.create)
        log.info("redefined %s (%s)", instance["instance_name"], instance["uuid"])

    async def snapshot(self, instance: dict, disk: Path, target: Path) -> None:
        """Pause a running guest (so its disk is consistent), copy, resume it in any case."""
        libvirt = _libvirt()
        dom = await self._lookup(instance)
        paused = False
        if dom is not None:
            state, _ = await self._call(dom.state)
            if state == libvirt.VIR_DOMAIN_RUNNING:
                await self._call(dom.suspend)
                paused = True
        try:
            await super().snapshot(instance, disk, target)
        finally:
            if paused:
                await self._call(dom.resume)

    # -- interfaces -------------------------------------------------------------
    async def _device_flags(self, dom) -> int:
        libvirt = _libvirt()
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if await self._call(dom.isActive):
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        return flags

    async def attach_interface(self, instance: dict, vif: dict) -> None:
        """attachDeviceFlags with the domain XML's own ``<interface type="bridge">`` (live when
        the guest runs, and in the persistent definition)."""
        dom = await self._domain(instance)
        await vifs.plug(vif)
        await self._call(dom.attachDeviceFlags, config.interface_xml(vif), await self._device_flags(dom))
        log.info("attached %s (port %s) to %s", vif.get("devname"), vif.get("port_id"), instance["uuid"])

    def _interface_by_mac(self, dom, mac: str, flags: int = 0) -> str | None:
        root = ET.fromstring(dom.XMLDesc(flags))
        for iface in root.iter("interface"):
            found = iface.find("mac")
            if found is not None and found.get("address", "").lower() == mac.lower():
                return ET.tostring(iface, encoding="unicode")
        return None

    async def detach_interface(self, instance: dict, vif: dict, wait: float = 10.0) -> None:
        """detachDeviceFlags of the interface with ``vif``'s MAC; waits up to ``wait`` seconds for
        the guest to release a live device (it needs the guest's cooperation)."""
        libvirt = _libvirt()
        dom = await self._domain(instance)
        mac = vif["mac_address"]
        persistent = await self._call(self._interface_by_mac, dom, mac, libvirt.VIR_DOMAIN_XML_INACTIVE)
        live = await self._call(self._interface_by_mac, dom, mac)
        if live is None and persistent is None:
            return
        flags = await self._device_flags(dom)
        if live is None:
            flags &= ~libvirt.VIR_DOMAIN_AFFECT_LIVE
        if persistent is None:
            flags &= ~libvirt.VIR_DOMAIN_AFFECT_CONFIG
        await self._call(dom.detachDeviceFlags, live or persistent, flags)
        if flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
            for _ in range(int(wait * 4)):
                if await self._call(self._interface_by_mac, dom, mac) is None:
                    break
                await asyncio.sleep(0.25)
            else:
                log.warning("guest %s did not release interface %s yet", instance["uuid"], mac)
        log.info("detached %s from %s", mac, instance["uuid"])

    async def power_state(self, instance: dict) -> int:
        dom = await self._lookup(instance)
        if dom is None:
            return base.NOSTATE
        state, _reason = await self._call(dom.state)
        return POWER_STATES.get(state, base.NOSTATE)

    async def get_diagnostics(self, instance: dict) -> dict:
        """The guest's diagnostics from libvirt's domain statistics (virt.diagnostics)."""
        dom = await self._domain(instance)
        figures = await self._call(diagnostics.from_domain, dom)
        return diagnostics.build(instance, await self.power_state(instance), driver="libvirt",
                                 hypervisor=self.virt_type, **figures)

    async def get_console_output(self, instance: dict, length: int | None = None) -> str:
        path = self._paths(instance).console_log
        dom = await self._lookup(instance)
        if dom is None and not path.exists():
            raise InstanceNotFound(f"Instance {instance['uuid']} could not be found.")

        def read_tail() -> bytes:
            try:
                with open(path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    size = f.tell()
                    f.seek(max(0, size - base.MAX_CONSOLE_BYTES))
                    return f.read()
            except FileNotFoundError:
                return b""

        data = await asyncio.to_thread(read_tail)
        return tail_lines(data.decode("utf-8", errors="replace"), length)

    async def get_vnc_port(self, instance: dict) -> int:
        """The port libvirt gave the running domain's VNC server (its live XML's ``<graphics>``)."""
        dom = await self._domain(instance)
        state, _reason = await self._call(dom.state)
        if POWER_STATES.get(state) != base.RUNNING:
            raise VirtError(f"Instance {instance['uuid']} is not running")
        graphics = ET.fromstring(await self._call(dom.XMLDesc, 0)).find("./devices/graphics[@type='vnc']")
        if graphics is None:
            raise base.ConsoleTypeUnavailable(f"Instance {instance['uuid']} has no VNC server")
        port = int(graphics.get("port") or -1)
        if port <= 0:
            raise VirtError(f"The VNC server of instance {instance['uuid']} has no port yet")
        return port

    async def list_instances(self) -> list[dict]:
        conn = await self._connection()

        def collect() -> list[dict]:
            out = []
            for dom in conn.listAllDomains(0):
                state, _ = dom.state()
                out.append({"name": dom.name(), "uuid": dom.UUIDString(),
                            "power_state": POWER_STATES.get(state, base.NOSTATE)})
            return out

        return await self._call(collect)

    async def host_stats(self) -> dict:
        conn = await self._connection()

        def collect() -> dict:
            model, memory_mb, cpus, _mhz, _nodes, sockets, cores, threads = conn.getInfo()[:8]
            caps = ET.fromstring(conn.getCapabilities())
            cpu = caps.find("host/cpu")
            cpu_info = {"arch": cpu.findtext("arch") if cpu is not None else model,
                        "model": cpu.findtext("model") if cpu is not None else None,
                        "vendor": cpu.findtext("vendor") if cpu is not None else None,
                        "topology": {"cells": _nodes, "sockets": sockets, "cores": cores,
                                     "threads": threads},
                        "features": sorted(f.get("name") for f in cpu.findall("feature"))
                        if cpu is not None else []}
            try:
                hostname = conn.getHostname()
            except Exception:
                hostname = socket.gethostname()
            return {"hypervisor_hostname": hostname, "hypervisor_type": self.hypervisor_type,
                    "hypervisor_version": int(conn.getVersion()), "vcpus": int(cpus),
                    "memory_mb": int(memory_mb), "cpu_info": json.dumps(cpu_info)}

        stats = await self._call(collect)
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        usage = await asyncio.to_thread(shutil.disk_usage, self.instances_dir)
        stats["local_gb"] = usage.total // GiB
        return stats
