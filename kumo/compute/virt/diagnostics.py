"""Guest diagnostics in the driver-neutral shape of Compute API microversion 2.48
("Servers diagnostics (servers, diagnostics)").

:func:`build` makes the body from what a driver knows; figures it does not
know are None (the API allows null for every counter). Units: memory in MiB,
CPU time in nanoseconds, uptime in seconds, I/O in bytes / requests / packets.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from kumo.compute.virt import base

#: power state -> diagnostics ``state``
STATES = {base.NOSTATE: "pending", base.RUNNING: "running", base.PAUSED: "paused",
          base.SHUTDOWN: "shutdown", base.CRASHED: "crashed", base.SUSPENDED: "suspended"}

_NIC_COUNTERS = ("rx_octets", "rx_errors", "rx_drop", "rx_packets", "rx_rate",
                 "tx_octets", "tx_errors", "tx_drop", "tx_packets", "tx_rate")
_DISK_COUNTERS = ("read_bytes", "read_requests", "write_bytes", "write_requests", "errors_count")


def build(instance: dict, power_state: int, *, driver: str = "libvirt", hypervisor: str | None = "qemu",
          hypervisor_os: str | None = "linux", uptime: int | None = None,
          memory_used: int | None = None, cpu_times: list[int | None] | None = None,
          nics: list[dict] | None = None, disks: list[dict] | None = None) -> dict:
    """The 2.48 body for ``instance`` (the bus dict).

    ``cpu_times``: per vCPU (ns; default: the flavor's vCPUs, unknown);
    ``nics``: per interface ``{"mac_address", <counters>}`` (default: the
    instance's network_info, counters unknown); ``disks``: per disk
    ``{<counters>}`` (default: the root disk, counters unknown).
    """
    flavor = instance.get("flavor") or {}
    if cpu_times is None:
        cpu_times = [None] * int(flavor.get("vcpus") or 0)
    if nics is None:
        nics = [{"mac_address": vif.get("mac_address")} for vif in instance.get("network_info") or []]
    if disks is None:
        disks = [{}]
    return {
        "state": STATES.get(power_state, "pending"),
        "driver": driver,
        "hypervisor": hypervisor,
        "hypervisor_os": hypervisor_os,
        "uptime": uptime,
        "config_drive": bool(instance.get("config_drive")),
        "num_cpus": len(cpu_times),
        "num_nics": len(nics),
        "num_disks": len(disks),
        "memory_details": {"maximum": flavor.get("ram"), "used": memory_used},
        "cpu_details": [{"id": n, "time": t, "utilisation": None} for n, t in enumerate(cpu_times)],
        "nic_details": [{"mac_address": nic.get("mac_address"), **{k: nic.get(k) for k in _NIC_COUNTERS}}
                        for nic in nics],
        "disk_details": [{k: disk.get(k) for k in _DISK_COUNTERS} for disk in disks],
    }


def from_domain(dom) -> dict:
    """:func:`build` keyword figures read from a libvirt domain (blocking: run in a thread).

    vCPU times from ``vcpus()``, memory from ``memoryStats()`` (KiB -> MiB),
    per-interface ``interfaceStats`` and per-disk ``blockStats`` of the
    devices in the domain XML; a counter libvirt cannot give stays None.
    """
    figures: dict = {}
    try:
        figures["cpu_times"] = [int(v[2]) for v in dom.vcpus()[0]]
    except Exception:  # a stopped domain has no vCPU information
        figures["cpu_times"] = None
    try:
        stats = dom.memoryStats()
        used = stats.get("rss") or stats.get("actual")
        figures["memory_used"] = int(used) // 1024 if used else None
    except Exception:
        figures["memory_used"] = None
    root = ET.fromstring(dom.XMLDesc(0))
    nics = []
    for iface in root.findall("./devices/interface"):
        mac = iface.find("mac").get("address") if iface.find("mac") is not None else None
        dev = iface.find("target").get("dev") if iface.find("target") is not None else None
        nic = {"mac_address": mac}
        try:
            (rx_b, rx_p, rx_e, rx_d, tx_b, tx_p, tx_e, tx_d) = dom.interfaceStats(dev)
            nic.update(rx_octets=rx_b, rx_packets=rx_p, rx_errors=rx_e, rx_drop=rx_d,
                       tx_octets=tx_b, tx_packets=tx_p, tx_errors=tx_e, tx_drop=tx_d)
        except Exception:
            pass
        nics.append(nic)
    figures["nics"] = nics
    disks = []
    for disk in root.findall("./devices/disk[@device='disk']"):
        target = disk.find("target")
        entry: dict = {}
        try:
            rd_req, rd_bytes, wr_req, wr_bytes, errs = dom.blockStats(target.get("dev"))
            entry.update(read_requests=rd_req, read_bytes=rd_bytes, write_requests=wr_req,
                         write_bytes=wr_bytes, errors_count=errs if errs >= 0 else None)
        except Exception:
            pass
        disks.append(entry)
    figures["disks"] = disks
    return figures
