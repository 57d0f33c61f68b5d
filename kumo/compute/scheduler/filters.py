"""Host filtering and weighing (nova's filter scheduler, reduced to what kumo needs).

Capacity follows placement's rule: a resource fits when
``(total - reserved) * allocation_ratio - used >= requested``, with
``reserved`` = ``reserved_host_memory_mb`` for RAM and 0 for vCPUs and disk.
Hosts are kept when their ``nova-compute`` service is enabled and up
(ComputeFilter) and the flavor's vCPUs, RAM and disk fit; the survivors are
sorted by free RAM, most first (nova's RAMWeigher with multiplier 1.0).
"""
from __future__ import annotations

from dataclasses import dataclass

from kumo.compute.objects import flavor_disk_gb


@dataclass
class HostState:
    """One compute node as the scheduler sees it (totals, claimed usage, service state)."""

    host: str
    node: str
    node_id: int
    generation: int
    vcpus: int
    memory_mb: int
    local_gb: int
    used_vcpus: int = 0
    used_ram: int = 0
    used_disk: int = 0
    enabled: bool = True
    up: bool = True


@dataclass(frozen=True)
class Ratios:
    """Allocation ratios and reserved memory (the ``[compute]`` settings)."""

    ram: float = 1.5
    cpu: float = 16.0
    disk: float = 1.0
    reserved_ram_mb: int = 512

    @classmethod
    def from_settings(cls, compute) -> "Ratios":
        """Ratios from the ``[compute]`` settings section."""
        return cls(ram=compute.ram_allocation_ratio, cpu=compute.cpu_allocation_ratio,
                   disk=compute.disk_allocation_ratio, reserved_ram_mb=compute.reserved_host_memory_mb)


def free_ram(hs: HostState, r: Ratios) -> float:
    """RAM (MiB) still claimable on the host."""
    return (hs.memory_mb - r.reserved_ram_mb) * r.ram - hs.used_ram


def free_vcpus(hs: HostState, r: Ratios) -> float:
    """vCPUs still claimable on the host."""
    return hs.vcpus * r.cpu - hs.used_vcpus


def free_disk(hs: HostState, r: Ratios) -> float:
    """Disk (GiB) still claimable on the host."""
    return hs.local_gb * r.disk - hs.used_disk


def needs_of(flavor: dict) -> tuple[int, int, int]:
    """The flavor's (vCPUs, RAM MiB, disk GiB) as the filters compare them."""
    return int(flavor.get("vcpus", 0)), int(flavor.get("ram", 0)), flavor_disk_gb(flavor)


def fits(hs: HostState, flavor: dict | tuple[int, int, int], r: Ratios) -> str | None:
    """None if the flavor (or its :func:`needs_of`) fits the host, else the name of the filter
    that refuses it."""
    vcpus, ram, disk = needs_of(flavor) if isinstance(flavor, dict) else flavor
    if free_vcpus(hs, r) < vcpus:
        return "VCPUFilter"
    if free_ram(hs, r) < ram:
        return "RamFilter"
    if free_disk(hs, r) < disk:
        return "DiskFilter"
    return None


def filter_hosts(hosts: list[HostState], flavor: dict, r: Ratios, host: str | None = None,
                 node: str | None = None) -> tuple[list[HostState], str]:
    """Hosts that can take ``flavor`` (only ``host``/``node`` when given), and a report.

    The report says how many hosts each filter removed, as nova logs it
    ("Filter RamFilter returned 0 hosts").
    """
    report = [f"{len(hosts)} host(s) considered"]
    kept = list(hosts)
    if host or node:
        kept = [h for h in kept if (not host or h.host == host) and (not node or h.node == node)]
        report.append(f"requested destination kept {len(kept)}")
    removed: dict[str, int] = {}
    survivors = []
    needs = needs_of(flavor)
    for hs in kept:
        if not (hs.enabled and hs.up):
            removed["ComputeFilter"] = removed.get("ComputeFilter", 0) + 1
            continue
        why = fits(hs, needs, r)
        if why:
            removed[why] = removed.get(why, 0) + 1
            continue
        survivors.append(hs)
    report += [f"{name} removed {count}" for name, count in removed.items()]
    return survivors, "; ".join(report)


def weigh(hosts: list[HostState], r: Ratios) -> list[HostState]:
    """Hosts sorted by free RAM, most first (ties by host and node name)."""
    return sorted(hosts, key=lambda h: (-free_ram(h, r), h.host, h.node))
