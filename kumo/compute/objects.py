"""The conductor's serialization of compute objects, and nova's state rules.

:func:`instance_to_dict` builds the instance dict that travels on the bus
(scheduler -> compute agent, conductor replies). Its keys are the compute
contract (see DEVELOPERS.md "Bus contracts")::

    {"uuid", "id", "instance_name": "instance-%08x" % id, "display_name", "hostname",
     "project_id", "user_id", "host", "node",
     "flavor": {"id", "name", "vcpus", "ram" (MiB), "disk" (GiB), "ephemeral" (GiB),
                "swap" (MiB), "extra_specs"},
     "image_ref", "key_name", "key_data", "user_data" (base64 or None), "metadata",
     "availability_zone", "config_drive" (bool),
     "requested_networks": [{"network_id", "port_id", "fixed_ip"}],
     "network_info": [{"port_id", "network_id", "network_name", "mac_address",
                       "fixed_ips": [{"ip_address", "subnet_id", "version"}], "vif_type",
                       "bridge", "devname", "created_port"}],
     "system_metadata": {"old_flavor", "new_flavor", "shelved_image_id", "old_vm_state", ...},
     "vm_state", "task_state", "power_state" (int), "launched_at" (ISO 8601 or None)}

The status rules follow nova's ``nova/api/openstack/common.py`` state map
(Compute API reference, "Server status").
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone

from kumo.common.db import isotime

# vm_states (nova/compute/vm_states.py)
ACTIVE, BUILDING, STOPPED, ERROR, DELETED = "active", "building", "stopped", "error", "deleted"
# task_states used by kumo
SCHEDULING, DELETING = "scheduling", "deleting"

#: (vm_state, task_state) -> API status; the ``None`` task entry is the default.
_STATE_MAP: dict[str, dict[str | None, str]] = {
    "active": {None: "ACTIVE", "rebooting": "REBOOT", "reboot_pending": "REBOOT",
               "reboot_started": "REBOOT", "rebooting_hard": "HARD_REBOOT",
               "reboot_pending_hard": "HARD_REBOOT", "reboot_started_hard": "HARD_REBOOT",
               "updating_password": "PASSWORD", "rebuilding": "REBUILD",
               "rebuild_block_device_mapping": "REBUILD", "rebuild_spawning": "REBUILD",
               "migrating": "MIGRATING", "resize_prep": "RESIZE", "resize_migrating": "RESIZE",
               "resize_migrated": "RESIZE", "resize_finish": "RESIZE"},
    "building": {None: "BUILD"},
    "stopped": {None: "SHUTOFF", "resize_prep": "RESIZE", "resize_migrating": "RESIZE",
                "resize_migrated": "RESIZE", "resize_finish": "RESIZE", "rebuilding": "REBUILD",
                "rebuild_block_device_mapping": "REBUILD", "rebuild_spawning": "REBUILD"},
    "resized": {None: "VERIFY_RESIZE", "resize_reverting": "REVERT_RESIZE"},
    "paused": {None: "PAUSED", "migrating": "MIGRATING"},
    "suspended": {None: "SUSPENDED"},
    "rescued": {None: "RESCUE"},
    "error": {None: "ERROR", "rebuilding": "REBUILD", "rebuild_block_device_mapping": "REBUILD",
              "rebuild_spawning": "REBUILD"},
    "deleted": {None: "DELETED"},
    "soft-delete": {None: "SOFT_DELETED"},
    "shelved": {None: "SHELVED"},
    "shelved_offloaded": {None: "SHELVED_OFFLOADED"},
}


def server_status(vm_state: str, task_state: str | None) -> str:
    """The API ``status`` of an instance (``UNKNOWN`` for an unmapped vm_state)."""
    per_task = _STATE_MAP.get(vm_state)
    if per_task is None:
        return "UNKNOWN"
    return per_task.get(task_state, per_task[None])


def states_for_status(status: str) -> list[tuple[str, str | None]] | None:
    """(vm_state, task_state or None for "any default task") pairs a ``status`` filter means.

    Returns None for a status nova does not know (the list is then empty).
    """
    wanted = status.upper()
    pairs = []
    for vm_state, per_task in _STATE_MAP.items():
        for task, name in per_task.items():
            if name == wanted:
                pairs.append((vm_state, task))
    return pairs or None


def sanitize_hostname(name: str, default: str) -> str:
    """A DNS label from a display name, as nova makes the instance hostname.

    Characters beyond Latin-1 are dropped, spaces, ``_`` and ``.`` become
    ``-``, other non-word characters go, the result is lowercased, cut to 63
    characters and stripped of leading/trailing ``-`` and ``.``; ``default``
    when nothing is left.
    """
    text = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    text = re.sub(r"[ _.]", "-", text)
    text = re.sub(r"[^\w.-]+", "", text)
    text = text.lower().strip(".-")
    return text or default[:63]


def flavor_snapshot(flavor) -> dict:
    """The bus/instance copy of a :class:`~kumo.compute.models.Flavor`."""
    return {"id": flavor.flavorid, "name": flavor.name, "vcpus": flavor.vcpus,
            "ram": flavor.memory_mb, "disk": flavor.root_gb, "ephemeral": flavor.ephemeral_gb,
            "swap": flavor.swap, "rxtx_factor": flavor.rxtx_factor,
            "extra_specs": dict(flavor.extra_specs or {})}


def flavor_disk_gb(flavor: dict) -> int:
    """Local disk a flavor takes in GiB: root + ephemeral + swap (MiB rounded up)."""
    return int(flavor.get("disk", 0)) + int(flavor.get("ephemeral", 0)) + math.ceil(
        int(flavor.get("swap", 0)) / 1024)


def instance_name(instance_id: int) -> str:
    """The hypervisor's name of the guest (nova's ``instance_name_template``)."""
    return "instance-%08x" % instance_id


def instance_to_dict(inst) -> dict:
    """The bus dict of an :class:`~kumo.compute.models.Instance` (see module docstring)."""
    return {
        "uuid": inst.uuid,
        "id": inst.id,
        "instance_name": instance_name(inst.id),
        "display_name": inst.display_name,
        "hostname": inst.hostname,
        "project_id": inst.project_id,
        "user_id": inst.user_id,
        "host": inst.host,
        "node": inst.node,
        "flavor": dict(inst.flavor),
        "image_ref": inst.image_ref,
        "key_name": inst.key_name,
        "key_data": inst.key_data,
        "user_data": inst.user_data,
        "metadata": dict(inst.meta or {}),
        "availability_zone": inst.availability_zone,
        "config_drive": bool(inst.config_drive),
        "requested_networks": [dict(n) for n in inst.requested_networks or []],
        "network_info": [dict(v) for v in inst.network_info or []],
        "system_metadata": dict(inst.system_metadata or {}),
        "injected_files": [dict(f) for f in inst.injected_files or []],
        "vm_state": inst.vm_state,
        "task_state": inst.task_state,
        "power_state": inst.power_state,
        "launched_at": isotime(inst.launched_at),
    }


def parse_time(value: str | None) -> datetime | None:
    """A naive UTC datetime from an ISO 8601 string (``Z`` or offset allowed); None stays None.

    Raises ValueError for text that is not ISO 8601.
    """
    if value is None or value == "":
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def nova_time(value: datetime | None) -> str | None:
    """A timestamp the way nova prints naive datetimes (``2013-09-23T13:53:12.000000``)."""
    if value is None:
        return None
    return value.isoformat(timespec="microseconds")
