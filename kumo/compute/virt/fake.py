"""A driver without a hypervisor: guests live in a dict (unit and API tests).

No host side effects: nothing is started, no file is read or written by the
driver (a snapshot is the base class's ``qemu-img convert`` of the disk the agent made).
Console output is a short fake boot log (:func:`fake_console_log`: a first line
``"fake console for <instance_name>"``, ending at a login prompt without a newline, as a real
serial console does); the VNC console of a running guest
is a :class:`~kumo.compute.virt.fakerfb.FakeRfbServer` on 127.0.0.1 (one for all guests, started
at the first ask, stopped by ``close``). Tests can
make the next spawn fail by setting :attr:`FakeDriver.fail_spawn` to a message (interface
attaches: :attr:`FakeDriver.fail_attach`); attached interfaces go to the guest's ``network_info``.
"""
from __future__ import annotations

import json
from pathlib import Path

from kumo.compute.virt import diagnostics
from kumo.compute.virt.fakerfb import FakeRfbServer
from kumo.compute.virt.base import (PAUSED, RUNNING, SHUTDOWN, SUSPENDED, ComputeDriver, InstanceNotFound, InstancePaths,
                                    VirtError, tail_lines)


def fake_console_log(name: str) -> str:
    """The fake guest's serial console: six lines, the last a login prompt without a newline."""
    return (f"fake console for {name}\n"
            "[    0.000000] Linux version 6.1.0 (kumo fake hypervisor)\n"
            "[    0.420000] Run /init as init process\n"
            "Starting dropbear sshd: OK\n"
            "\n"
            f"{name} login: ")


class FakeDriver(ComputeDriver):
    """In-memory guests keyed by uuid: ``{"name", "uuid", "power_state", "network_info", "disks",
    "flavor"}``; pause/suspend need a running guest, unpause/resume a paused/suspended one."""

    hypervisor_version = 7002000

    def __init__(self, vcpus: int = 16, memory_mb: int = 32768, local_gb: int = 1024):
        self.vcpus, self.memory_mb, self.local_gb = vcpus, memory_mb, local_gb
        self.guests: dict[str, dict] = {}
        self.fail_spawn: str | None = None
        self.fail_attach: str | None = None
        self.host = ""
        self.vnc = FakeRfbServer()

    async def init_host(self, host: str) -> None:
        self.host = host

    async def spawn(self, instance: dict, network_info: list[dict], paths: InstancePaths,
                    disks: dict[str, Path]) -> None:
        if self.fail_spawn:
            raise VirtError(self.fail_spawn)
        if instance["uuid"] in self.guests:
            raise VirtError(f"Domain {instance['instance_name']} already exists")
        self.guests[instance["uuid"]] = {
            "name": instance["instance_name"], "uuid": instance["uuid"], "power_state": RUNNING,
            "network_info": network_info, "disks": {k: str(v) for k, v in disks.items()},
            "flavor": dict(instance["flavor"])}

    def _guest(self, instance: dict) -> dict:
        try:
            return self.guests[instance["uuid"]]
        except KeyError:
            raise InstanceNotFound(f"Instance {instance['uuid']} could not be found.") from None

    async def destroy(self, instance: dict) -> None:
        self.guests.pop(instance["uuid"], None)

    async def power_off(self, instance: dict) -> None:
        self._guest(instance)["power_state"] = SHUTDOWN

    async def power_on(self, instance: dict) -> None:
        self._guest(instance)["power_state"] = RUNNING

    async def reboot(self, instance: dict, hard: bool = False) -> None:
        self._guest(instance)["power_state"] = RUNNING

    async def power_state(self, instance: dict) -> int:
        guest = self.guests.get(instance["uuid"])
        return guest["power_state"] if guest else 0

    async def get_diagnostics(self, instance: dict) -> dict:
        """Figures of an idle guest: no CPU time or I/O yet, all its memory in use."""
        guest = self._guest(instance)
        idle_nic = dict.fromkeys(("rx_octets", "rx_errors", "rx_drop", "rx_packets", "tx_octets",
                                  "tx_errors", "tx_drop", "tx_packets"), 0)
        return diagnostics.build(
            instance, guest["power_state"], driver="libvirt", hypervisor="fake", uptime=0,
            memory_used=guest["flavor"].get("ram"), cpu_times=[0] * int(guest["flavor"].get("vcpus") or 1),
            nics=[dict(idle_nic, mac_address=v.get("mac_address")) for v in guest["network_info"]],
            disks=[dict.fromkeys(("read_bytes", "read_requests", "write_bytes", "write_requests",
                                  "errors_count"), 0) for _ in guest["disks"]])

    async def set_admin_password(self, instance: dict, password: str) -> None:
        """Records it in the guest's ``admin_password`` (the guest must exist and run)."""
        self._running(instance)["admin_password"] = password

    async def get_console_output(self, instance: dict, length: int | None = None) -> str:
        guest = self._guest(instance)
        return tail_lines(fake_console_log(guest["name"]), length)

    async def get_vnc_port(self, instance: dict) -> int:
        """The port of the shared fake RFB server; VirtError when the guest is not running."""
        self._running(instance)
        return await self.vnc.start()

    async def close(self) -> None:
        await self.vnc.stop()

    async def pause(self, instance: dict) -> None:
        self._running(instance)["power_state"] = PAUSED

    async def unpause(self, instance: dict) -> None:
        guest = self._guest(instance)
        if guest["power_state"] != PAUSED:
            raise VirtError(f"Instance {instance['uuid']} is not paused")
        guest["power_state"] = RUNNING

    async def suspend(self, instance: dict) -> None:
        self._running(instance)["power_state"] = SUSPENDED

    async def resume(self, instance: dict, network_info: list[dict]) -> None:
        guest = self._guest(instance)
        if guest["power_state"] != SUSPENDED:
            raise VirtError(f"Instance {instance['uuid']} is not suspended")
        guest["power_state"] = RUNNING

    async def redefine(self, instance: dict, network_info: list[dict], paths: InstancePaths,
                       disks: dict[str, Path], start: bool) -> None:
        """Replaces the guest's ``flavor``, ``network_info`` and ``disks``; RUNNING or SHUTDOWN."""
        guest = self._guest(instance)
        guest.update(flavor=dict(instance["flavor"]), network_info=network_info,
                     disks={k: str(v) for k, v in disks.items()},
                     power_state=RUNNING if start else SHUTDOWN)

    def _running(self, instance: dict) -> dict:
        guest = self._guest(instance)
        if guest["power_state"] != RUNNING:
            raise VirtError(f"Instance {instance['uuid']} is not running")
        return guest

    async def attach_interface(self, instance: dict, vif: dict) -> None:
        """Records the interface in the guest's ``network_info`` (VirtError ``fail_attach``)."""
        guest = self._guest(instance)
        if self.fail_attach:
            raise VirtError(self.fail_attach)
        guest["network_info"] = [v for v in guest["network_info"] if v["port_id"] != vif["port_id"]] + [vif]

    async def detach_interface(self, instance: dict, vif: dict) -> None:
        """Drops the interface with ``vif``'s MAC from the guest's ``network_info``."""
        guest = self._guest(instance)
        guest["network_info"] = [v for v in guest["network_info"]
                                 if v.get("mac_address") != vif.get("mac_address")]

    async def list_instances(self) -> list[dict]:
        return [{"name": g["name"], "uuid": g["uuid"], "power_state": g["power_state"]}
                for g in self.guests.values()]

    async def host_stats(self) -> dict:
        cpu_info = {"arch": "x86_64", "model": "fake", "vendor": "kumo",
                    "topology": {"cells": 1, "sockets": 1, "cores": self.vcpus, "threads": 1},
                    "features": []}
        return {"hypervisor_hostname": self.host, "hypervisor_type": self.hypervisor_type,
                "hypervisor_version": self.hypervisor_version, "vcpus": self.vcpus,
                "memory_mb": self.memory_mb, "local_gb": self.local_gb,
                "cpu_info": json.dumps(cpu_info)}
