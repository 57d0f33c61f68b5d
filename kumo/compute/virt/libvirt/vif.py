"""Plugging a VIF of type ``bridge``: the Linux bridge must exist before the guest starts.

Like os-vif's linux_bridge plugin, the compute side makes sure the bridge
named in network_info exists and is up (libvirt refuses to start a domain
whose ``<interface type="bridge">`` names a missing bridge); libvirt itself
creates the tap (``devname``), adds it to the bridge and removes it when the
guest stops. The L2 agent wires the bridge to the network (uplink, VLAN,
VXLAN); it also owns removing the bridge.
"""
from __future__ import annotations

import re
from pathlib import Path

from kumo.common.host.process import HostError, run
from kumo.compute.virt.base import VirtError

_IFNAME = re.compile(r"^[A-Za-z0-9_.\-]{1,15}$")


def valid_ifname(name: str) -> bool:
    """True for a Linux interface name (1-15 chars of letters, digits, ``_.-``)."""
    return bool(name and _IFNAME.match(name))


async def ensure_bridge(bridge: str, sys_class_net: str = "/sys/class/net") -> None:
    """Create the bridge ``bridge`` (forward delay 0) if missing and set it up; raises VirtError."""
    if not valid_ifname(bridge):
        raise VirtError(f"Invalid bridge name {bridge!r}")
    try:
        if not Path(sys_class_net, bridge).exists():
            try:
                await run("ip", "link", "add", "name", bridge, "type", "bridge", "forward_delay", "0")
            except HostError as e:
                if "File exists" not in e.stderr:
                    raise
        await run("ip", "link", "set", "dev", bridge, "up")
    except HostError as e:
        raise VirtError(f"Failed to plug the VIF into bridge {bridge}: {e.stderr.strip()}") from None


async def plug(vif: dict) -> None:
    """Prepare the host side of one network_info entry (bridge + valid tap name)."""
    if not valid_ifname(vif.get("devname", "")):
        raise VirtError(f"Invalid tap device name {vif.get('devname')!r}")
    await ensure_bridge(vif["bridge"])
