"""IP address management: subnet geometry checks and address allocation.

Pure functions over :mod:`ipaddress` (no database): the service calls them
inside the write transaction that also inserts the ``ipallocations`` rows, so
an address chosen here is either committed with its port or not at all. The
unique key (subnet_id, ip_address) settles races between API processes (the
loser retries and then sees the address as used).

Rules follow the Networking API v2.0 reference ("Subnets", "Ports") and
neutron's IPAM: the default gateway is the first host address; the default
allocation pools are the host range minus the gateway; a port gets, unless it
asks otherwise, one address from the first IPv4 subnet that has one free.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Iterable

from kumo.common.api.errors import BadRequest, Conflict
from kumo.network import errors

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_cidr(cidr: object, ip_version: int | None) -> Network:
    """``cidr`` (``"10.0.0.0/24"``) as a network; 400 InvalidInput when it is malformed,
    has host bits set, does not match ``ip_version`` or leaves no host addresses."""
    if not isinstance(cidr, str):
        raise errors.bad_attribute("cidr", f"'{cidr}' is not a valid IP subnet")
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise errors.bad_attribute("cidr", f"'{cidr}' is not a valid IP subnet") from None
    if "/" not in cidr:
        raise errors.bad_attribute("cidr", f"'{cidr}' is not a valid IP subnet")
    if ipaddress.ip_interface(cidr).ip != net.network_address:
        raise errors.bad_attribute(
            "cidr", f"'{cidr}' isn't a recommended CIDR, '{net}' should be specified instead")
    if ip_version is not None and net.version != ip_version:
        raise errors.invalid_input(f"Cidr {cidr} does not match ip_version {ip_version}")
    if net.num_addresses < 4:
        raise errors.invalid_input(f"Cidr {cidr} is too small: it has no usable host addresses")
    return net


def parse_ip(value: object, attr: str, version: int | None = None) -> Address:
    """An IP address, or 400 naming ``attr``."""
    try:
        ip = ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        raise errors.bad_attribute(attr, f"'{value}' is not a valid IP address") from None
    if version is not None and ip.version != version:
        raise errors.invalid_input(f"{attr} '{value}' does not match the ip_version '{version}'")
    return ip


def host_range(net: Network) -> tuple[int, int]:
    """First and last assignable address (as ints): IPv4 skips network and broadcast,
    IPv6 skips only the subnet-router anycast address."""
    first = int(net.network_address) + 1
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    return first, last


def default_gateway(net: Network) -> str:
    return str(ipaddress.ip_address(host_range(net)[0]))


def _ip(n: int, version: int) -> str:
    return str(ipaddress.IPv4Address(n) if version == 4 else ipaddress.IPv6Address(n))


def default_pools(net: Network, gateway: str | None) -> list[dict]:
    """The host range of ``net`` minus ``gateway``, as ``[{"start", "end"}]``."""
    first, last = host_range(net)
    gw = int(ipaddress.ip_address(gateway)) if gateway else None
    ranges = [(first, last)]
    if gw is not None and first <= gw <= last:
        ranges = [(first, gw - 1), (gw + 1, last)]
    return [{"start": _ip(a, net.version), "end": _ip(b, net.version)} for a, b in ranges if a <= b]


def check_gateway(net: Network, gateway: object) -> str | None:
    """Validated gateway (None allowed); 400 if malformed, outside ``net``, or its network
    or broadcast address."""
    if gateway is None:
        return None
    ip = parse_ip(gateway, "gateway_ip", net.version)
    first, last = host_range(net)
    if not first <= int(ip) <= last:
        raise errors.invalid_input("Gateway is not valid on subnet")
    return str(ip)


def check_pools(net: Network, pools: object, gateway: str | None) -> list[dict]:
    """Validated ``allocation_pools`` (a list of ``{"start", "end"}``) for ``net``.

    400 for malformed pools (InvalidAllocationPool) or pools beyond the subnet
    (OutOfBoundsAllocationPool); 409 for pools overlapping each other
    (OverlappingAllocationPools) or the gateway (GatewayConflictWithAllocationPools),
    as neutron does.
    """
    if not isinstance(pools, list):
        raise errors.bad_attribute("allocation_pools", f"'{pools}' is not a list")
    first, last = host_range(net)
    ranges: list[tuple[int, int, dict]] = []
    for pool in pools:
        if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
            raise errors.bad_attribute("allocation_pools",
                                       f"Invalid data format for IP pool: '{pool}'")
        start = parse_ip(pool["start"], "allocation_pools", net.version)
        end = parse_ip(pool["end"], "allocation_pools", net.version)
        clean = {"start": str(start), "end": str(end)}
        if int(start) > int(end):
            raise BadRequest(f"The allocation pool {start}-{end} is not valid.",
                             kind="InvalidAllocationPool")
        if int(start) < first or int(end) > last:
            raise BadRequest(f"The allocation pool {start}-{end} spans beyond the subnet "
                             f"cidr {net}.", kind="OutOfBoundsAllocationPool")
        ranges.append((int(start), int(end), clean))
    ranges.sort(key=lambda r: r[0])
    for (a1, b1, p1), (a2, b2, p2) in zip(ranges, ranges[1:]):
        if a2 <= b1:
            raise Conflict(f"Found overlapping allocation pools: {p1['start']}-{p1['end']} and "
                           f"{p2['start']}-{p2['end']} for subnet {net}.",
                           kind="OverlappingAllocationPools")
    if gateway:
        gw = int(ipaddress.ip_address(gateway))
        for a, b, p in ranges:
            if a <= gw <= b:
                raise Conflict(f"Gateway ip {gateway} conflicts with allocation pool "
                               f"{p['start']}-{p['end']}.", kind="GatewayConflictWithAllocationPools")
    return [r[2] for r in ranges]


def first_free(pools: Iterable[dict], used: Iterable[str]) -> str | None:
    """Lowest address of ``pools`` (in pool order) not in ``used``; None if all are taken."""
    taken = sorted({int(ipaddress.ip_address(u)) for u in used})
    for pool in pools:
        start = ipaddress.ip_address(pool["start"])
        end = int(ipaddress.ip_address(pool["end"]))
        candidate = int(start)
        for u in taken:
            if u < candidate:
                continue
            if u > candidate or u > end:
                break
            candidate += 1
        if candidate <= end:
            return _ip(candidate, start.version)
    return None


def in_subnet(ip: str, cidr: str) -> bool:
    """True if ``ip`` is an assignable address of ``cidr``."""
    net = ipaddress.ip_network(cidr)
    addr = ipaddress.ip_address(ip)
    if addr.version != net.version:
        return False
    first, last = host_range(net)
    return first <= int(addr) <= last


#: IPv6 address modes whose addresses hosts make themselves from their MAC (SLAAC).
AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")


def eui64(cidr: str, mac: str) -> str:
    """The SLAAC address of ``mac`` in the IPv6 prefix ``cidr``: the prefix, then the
    modified EUI-64 interface id (universal/local bit flipped, ff:fe in the middle)."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = int.from_bytes(bytes(octets[:3] + [0xFF, 0xFE] + octets[3:]), "big")
    net = ipaddress.IPv6Network(cidr)
    return str(ipaddress.IPv6Address(int(net.network_address) | iid))


@dataclass
class SubnetInfo:
    """What allocation needs to know about a subnet, and what is used in it.
    ``auto_address``: an IPv6 SLAAC / DHCPv6-stateless subnet (addresses by EUI-64)."""

    id: str
    cidr: str
    ip_version: int
    allocation_pools: list[dict]
    used: set[str] = field(default_factory=set)
    auto_address: bool = False


def _auto(s: SubnetInfo, mac: str | None) -> str:
    """The EUI-64 address of ``mac`` on auto-address subnet ``s`` (409 if taken)."""
    if mac is None:
        raise errors.ip_exhausted(s.id)
    ip = eui64(s.cidr, mac)
    if ip in s.used:
        raise errors.ip_in_use(ip, s.id)
    s.used.add(ip)
    return ip


def plan(network_id: str, subnets: list[SubnetInfo], requested: list[dict] | None,
         keep: list[tuple[str, str]] = (), mac: str | None = None) -> list[tuple[str, str]]:
    """Addresses a port should hold, as ``[(subnet_id, ip)]``.

    ``requested`` is the port's ``fixed_ips`` (None: the default, one address
    from the first IPv4 subnet with a free one, else the first IPv6 stateful
    subnet, plus the EUI-64 address of ``mac`` on every auto-address subnet);
    each entry has ``subnet_id`` and/or ``ip_address`` (a subnet alone on an
    auto-address subnet means its EUI-64 address). ``keep`` lists the
    port's current addresses: an entry naming one of them (or only its
    subnet) keeps it. ``used`` sets of ``subnets`` must not include ``keep``.
    Raises 400 (unknown subnet, address outside every subnet), 409
    IpAddressAlreadyAllocated / IpAddressGenerationFailure.
    """
    by_id = {s.id: s for s in subnets}
    out: list[tuple[str, str]] = []
    if requested is None:
        auto = [(s.id, _auto(s, mac)) for s in subnets if s.auto_address]
        pooled = [s for s in subnets if not s.auto_address]
        for version in (4, 6):
            for s in pooled:
                if s.ip_version != version:
                    continue
                ip = first_free(s.allocation_pools, s.used)
                if ip:
                    s.used.add(ip)
                    return [(s.id, ip)] + auto
        if pooled and not auto:
            raise errors.ip_exhausted(network_id)
        return auto
    kept = list(keep)
    for entry in requested:
        subnet_id, ip = entry.get("subnet_id"), entry.get("ip_address")
        if subnet_id is not None and subnet_id not in by_id:
            raise errors.invalid_input(
                f"Failed to create port on network {network_id}, because fixed_ips included "
                f"invalid subnet {subnet_id}")
        if ip is not None:
            addr = str(parse_ip(ip, "fixed_ips"))
            if subnet_id is None:
                match = [s for s in subnets if in_subnet(addr, s.cidr)]
                if not match:
                    raise errors.invalid_input(
                        f"IP address {addr} is not a valid IP for any of the subnets on the "
                        "specified network")
                subnet_id = match[0].id
            s = by_id[subnet_id]
            if not in_subnet(addr, s.cidr):
                raise errors.invalid_ip_for_subnet(addr)
            if (subnet_id, addr) in kept:
                kept.remove((subnet_id, addr))
            elif addr in s.used or (subnet_id, addr) in out:
                raise errors.ip_in_use(addr, subnet_id)
            out.append((subnet_id, addr))
            s.used.add(addr)
            continue
        s = by_id[subnet_id]
        old = next((k for k in kept if k[0] == subnet_id), None)
        if old is not None:
            kept.remove(old)
            out.append(old)
            continue
        if s.auto_address:
            out.append((subnet_id, _auto(s, mac)))
            continue
        free = first_free(s.allocation_pools, s.used)
        if free is None:
            raise errors.ip_exhausted(network_id)
        s.used.add(free)
        out.append((subnet_id, free))
    return out
