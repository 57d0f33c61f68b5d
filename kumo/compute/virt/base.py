"""The compute driver interface every hypervisor driver implements.

A driver turns an instance (the conductor's instance dict, see
``kumo/compute/objects.py``) into a running guest and back. It does not talk
to other services: the compute agent allocates ports, fetches the image and
makes the disks (:mod:`kumo.compute.virt.disk`) before it calls
:meth:`ComputeDriver.spawn`, and releases them after :meth:`ComputeDriver.destroy`.

Power states are nova's (``nova/compute/power_state.py``), the integers
reported in ``OS-EXT-STS:power_state``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kumo.common.host import qemu_img
from kumo.common.host.process import HostError

NOSTATE = 0
RUNNING = 1
PAUSED = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED = 7

#: Largest tail of a console log returned by get_console_output (nova's MAX_CONSOLE_BYTES).
MAX_CONSOLE_BYTES = 100 * 1024


class VirtError(Exception):
    """A hypervisor operation failed; the message is fit for an instance fault."""


class InstanceNotFound(VirtError):
    """The hypervisor has no guest for the instance."""


class PasswordNotSupported(VirtError):
    """The driver (or the guest: no guest agent) cannot set an admin password."""


class ConsoleTypeUnavailable(VirtError):
    """The guest has no console of the asked type (no VNC server)."""


@dataclass(frozen=True)
class InstancePaths:
    """Where an instance's files live: ``<instances_dir>/<uuid>/``.

    ``disk`` is the root disk (qcow2 overlay on the cached image),
    ``disk_local`` the ephemeral disk, ``disk_swap`` the swap disk (both raw,
    made only when the flavor asks for them) and ``console_log`` the serial
    console log.
    """

    instances_dir: Path
    uuid: str

    def __post_init__(self):
        if not self.uuid or "/" in self.uuid or self.uuid.startswith(".") or "\0" in self.uuid:
            raise ValueError(f"invalid instance uuid {self.uuid!r}")

    @property
    def dir(self) -> Path:
        return Path(self.instances_dir, self.uuid)

    @property
    def disk(self) -> Path:
        return self.dir / "disk"

    @property
    def disk_local(self) -> Path:
        return self.dir / "disk.local"

    @property
    def disk_swap(self) -> Path:
        return self.dir / "disk.swap"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"


def tail_lines(text: str, length: int | None) -> str:
    """The last ``length`` lines of ``text`` (all of it for None; nothing for 0 or less)."""
    if length is None:
        return text
    if length <= 0:
        return ""
    lines = text.splitlines(keepends=True)
    return "".join(lines[-length:])


class ComputeDriver:
    """Interface of a hypervisor driver (all methods are coroutines).

    Guests are named by ``instance["instance_name"]`` (``instance-%08x``) and
    identified by ``instance["uuid"]``.
    """

    #: ``hypervisor_type`` reported to the conductor.
    hypervisor_type = "QEMU"

    async def init_host(self, host: str) -> None:
        """Connect to the hypervisor for node ``host``; raises VirtError when it is unreachable."""

    async def close(self) -> None:
        """Release the hypervisor connection."""

    async def spawn(self, instance: dict, network_info: list[dict], paths: InstancePaths,
                    disks: dict[str, Path]) -> None:
        """Create and start the guest.

        ``network_info``: the contract's entries (``mac_address``, ``bridge``,
        ``devname`` ...); ``disks``: target device name (``vda``, ``vdb``,
        ``vdc``) -> existing disk file, the root disk first. On failure the
        driver leaves no guest behind and raises VirtError.
        """
        raise NotImplementedError

    async def destroy(self, instance: dict) -> None:
        """Stop the guest at once and remove its definition; a missing guest is not an error."""
        raise NotImplementedError

    async def power_off(self, instance: dict) -> None:
        """Stop the guest (hard power off); raises InstanceNotFound."""
        raise NotImplementedError

    async def power_on(self, instance: dict) -> None:
        """Start a stopped guest (no-op when running); raises InstanceNotFound."""
        raise NotImplementedError

    async def reboot(self, instance: dict, hard: bool = False) -> None:
        """Reboot the guest (``hard``: reset, else ACPI reboot); raises InstanceNotFound."""
        raise NotImplementedError

    async def power_state(self, instance: dict) -> int:
        """The guest's power state (NOSTATE when the hypervisor does not know it)."""
        raise NotImplementedError

    async def get_console_output(self, instance: dict, length: int | None = None) -> str:
        """The serial console log, its last ``length`` lines when given (at most MAX_CONSOLE_BYTES)."""
        raise NotImplementedError

    async def get_vnc_port(self, instance: dict) -> int:
        """The TCP port of the running guest's VNC server (on ``[vnc] server_listen``).
        Raises InstanceNotFound, VirtError (not running), ConsoleTypeUnavailable."""
        raise ConsoleTypeUnavailable("This hypervisor driver has no VNC consoles")

    # -- lifecycle (pause, suspend, rescue, resize, snapshot) ------------------------------
    async def pause(self, instance: dict) -> None:
        """Freeze the guest's vCPUs in memory (power state PAUSED); raises InstanceNotFound."""
        raise VirtError("This hypervisor driver cannot pause guests")

    async def unpause(self, instance: dict) -> None:
        """Let a paused guest run again (RUNNING); raises InstanceNotFound."""
        raise VirtError("This hypervisor driver cannot unpause guests")

    async def suspend(self, instance: dict) -> None:
        """Save the guest's memory to disk and stop it (power state SUSPENDED)."""
        raise VirtError("This hypervisor driver cannot suspend guests")

    async def resume(self, instance: dict, network_info: list[dict]) -> None:
        """Restore a suspended guest from its saved memory (RUNNING)."""
        raise VirtError("This hypervisor driver cannot resume guests")

    async def redefine(self, instance: dict, network_info: list[dict], paths: InstancePaths,
                       disks: dict[str, Path], start: bool) -> None:
        """Stop the guest at once and replace its definition with one built from ``instance``
        (its flavor: RAM, vCPUs), ``network_info`` and ``disks`` (as in :meth:`spawn`); start it
        again when ``start``. Rescue, unrescue, resize and revert are redefinitions.
        Raises InstanceNotFound, VirtError."""
        raise VirtError("This hypervisor driver cannot redefine guests")

    async def snapshot(self, instance: dict, disk: Path, target: Path) -> None:
        """Write a standalone qcow2 copy of the root ``disk`` (a qcow2 file) to ``target``.

        The default copies with ``qemu-img convert -U`` as the disk is; drivers
        with a running guest pause it around the copy so the image is consistent.
        """
        try:
            await qemu_img.convert(disk, target, "qcow2", "qcow2", force_share=True)
        except HostError as e:
            raise VirtError(f"Failed to copy the disk of {instance['uuid']}: {e}") from None

    async def attach_interface(self, instance: dict, vif: dict) -> None:
        """Hot-plug one network_info entry into the running (or stopped) guest, live and in its
        persistent definition; raises InstanceNotFound, VirtError."""
        raise VirtError("This hypervisor driver cannot attach interfaces")

    async def detach_interface(self, instance: dict, vif: dict) -> None:
        """Unplug the interface with ``vif["mac_address"]``; a guest without it is not an error;
        raises InstanceNotFound, VirtError."""
        raise VirtError("This hypervisor driver cannot detach interfaces")

    async def set_admin_password(self, instance: dict, password: str) -> None:
        """Set the guest's administrator password (changePassword); raises InstanceNotFound,
        or PasswordNotSupported when the hypervisor cannot reach into the guest."""
        raise PasswordNotSupported("This hypervisor driver cannot set guest passwords")

    async def get_diagnostics(self, instance: dict) -> dict:
        """The guest's diagnostics in the 2.48 shape (:mod:`kumo.compute.virt.diagnostics`);
        this default knows only the flavor and the interfaces. Raises InstanceNotFound."""
        from kumo.compute.virt import diagnostics  # it imports this module
        return diagnostics.build(instance, await self.power_state(instance), driver="libvirt",
                                 hypervisor=None, hypervisor_os=None)

    async def list_instances(self) -> list[dict]:
        """Guests on this host: ``[{"name": str, "uuid": str, "power_state": int}]``."""
        raise NotImplementedError

    def watch_lifecycle(self, callback) -> bool:
        """Call ``callback(uuid)`` (from any thread) when a guest starts, stops, crashes, is paused
        or resumed; call before :meth:`init_host`. False (this default) when the hypervisor
        sends no such events: the agent's periodic power-state sync alone sees changes then."""
        return False

    async def host_stats(self) -> dict:
        """This node for ``report_compute_node``.

        ``{"hypervisor_hostname": str, "hypervisor_type": "QEMU", "hypervisor_version": int
        (major*1000000 + minor*1000 + micro), "vcpus": int, "memory_mb": int (MiB),
        "local_gb": int (GiB of the instances filesystem), "cpu_info": str (JSON)}``;
        the agent adds ``host`` and ``host_ip``.
        """
        raise NotImplementedError
