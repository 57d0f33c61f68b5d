"""Security groups on the taps of this host: iptables chains of our own over br_netfilter.

Layout (table ``filter``, for IPv4 with iptables and IPv6 with ip6tables; ``P``
is the chain prefix, ``kumo-`` in the agent):

- ``FORWARD`` and ``INPUT`` jump to ``P FORWARD`` / ``P INPUT`` (first rule);
- those send a packet whose bridge port is a filtered tap
  (``-m physdev --physdev-out|--physdev-in tapX --physdev-is-bridged``) to
  ``P sg-chain``, which runs the port's ingress chain ``P i<port[:11]>``
  (traffic to the VM) and egress chain ``P o<port[:11]>`` (traffic from it)
  and accepts what both let through (they RETURN on an allowed packet);
- a port chain ends in ``P sg-fallback`` (DROP);
- egress first checks the source against the port's own (MAC, IP) pairs and
  its allowed address pairs (``P s<port[:11]>``): DHCP discovery from 0.0.0.0
  and IPv6 neighbour discovery pass, anything else spoofed is dropped; a VM
  may not answer as a DHCP server (UDP 67->68, 547->546) nor send router
  advertisements;
- conntrack: ESTABLISHED,RELATED return, INVALID drop, then the rules.

The whole state is rewritten on every :meth:`Firewall.apply` with
``iptables-restore --noflush`` (our chains only), and chains of ports that are
gone are deleted, so a restart reconciles by itself. The input is the
Networking API's shapes (Networking API v2.0, "Security group rules").
"""
from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field

from kumo.common.host.process import HostError, run
from kumo.network.agents.firewall_arp import apply_arp, clear_arp
from kumo.network.agents.firewall_conntrack import (Allow, allocate_zones, allows, cut_removed,
                                                    raw_ruleset, zones_from_save)

log = logging.getLogger(__name__)

PORTED = ("tcp", "udp", "sctp")


@dataclass
class PortFilter:
    """What the firewall needs of one port.

    ``port``: the API's port dict (id, mac_address, fixed_ips, allowed_address_pairs,
    port_security_enabled); ``rules``: the security group rule dicts of its groups;
    ``remote_ips``: remote group id -> member ports' fixed IPs (both families); ``bridge``:
    the bridge of the port's network (its conntrack zone; "" = none)."""

    port: dict
    rules: list[dict] = field(default_factory=list)
    remote_ips: dict[str, list[str]] = field(default_factory=dict)
    bridge: str = ""  # the port's network bridge (its conntrack zone); "" = no zone

    @property
    def tap(self) -> str:
        return "tap" + self.port["id"][:11]


def _family(address: str) -> int:
    return ipaddress.ip_network(address, strict=False).version


def _proto_args(rule: dict, version: int) -> list[str] | None:
    """``-p`` and port/type matches of a rule; None when the rule cannot apply to ``version``."""
    proto = rule.get("protocol")
    if proto in (None, "", "any"):
        return []
    proto = str(proto).lower()
    if proto in ("icmp", "1") and version == 6:
        proto = "ipv6-icmp"
    if proto in ("ipv6-icmp", "icmpv6", "58") and version == 4:
        return None
    name = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp", "132": "sctp",
            "icmpv6": "ipv6-icmp"}.get(proto, proto)
    args = ["-p", name]
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if name in PORTED and low is not None:
        args += ["-m", name, "--dport", str(low) if high in (None, low) else f"{low}:{high}"]
    elif name in ("icmp", "ipv6-icmp") and low is not None:
        opt = "--icmp-type" if name == "icmp" else "--icmpv6-type"
        args += [opt, str(low) if high is None else f"{low}/{high}"]
    return args


def _remotes(rule: dict, pf: PortFilter, version: int) -> list[str] | None:
    """Remote addresses of a rule for ``version`` ([""] = anywhere), None when none apply."""
    if rule.get("remote_group_id"):
        ips = [ip for ip in pf.remote_ips.get(rule["remote_group_id"], []) if _family(ip) == version]
        return ips or None
    prefix = rule.get("remote_ip_prefix")
    if prefix:
        return [prefix] if _family(prefix) == version else None
    return [""]


def rule_lines(chain: str, pf: PortFilter, direction: str, version: int) -> list[str]:
    """``-A chain ...`` lines allowing the port's ``direction`` rules for IP ``version``."""
    want = "IPv4" if version == 4 else "IPv6"
    out = []
    for rule in pf.rules:
        if rule.get("direction") != direction or rule.get("ethertype", "IPv4") != want:
            continue
        proto = _proto_args(rule, version)
        remotes = _remotes(rule, pf, version)
        if proto is None or remotes is None:
            continue
        side = "-s" if direction == "ingress" else "-d"
        for remote in remotes:
            addr = [side, remote] if remote else []
            out.append(" ".join(["-A", chain, *addr, *proto, "-j", "RETURN"]))
    return out


def link_local(mac: str) -> str:
    """The IPv6 link-local address SLAAC derives from ``mac`` (modified EUI-64, RFC 4291)."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 2
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return str(ipaddress.ip_address("fe80::" + ":".join(
        f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2))))


def _own_pairs(port: dict, version: int) -> list[tuple[str, str]]:
    """(MAC, address or CIDR) pairs the port may send IP ``version`` from: fixed IPs (SLAAC
    addresses included: the API lists them), allowed address pairs, and for IPv6 the
    link-local address of each of those MACs."""
    mac = port["mac_address"]
    pairs = [(mac, ip["ip_address"]) for ip in port.get("fixed_ips") or []]
    pairs += [(p.get("mac_address") or mac, p["ip_address"])
              for p in port.get("allowed_address_pairs") or []]
    if version == 6:
        for m in dict.fromkeys([mac] + [m for m, _ in pairs]):
            pairs.append((m, link_local(m)))
    return [(m, a) for m, a in pairs if _family(a) == version]


class Firewall:
    """``Firewall(prefix="kumo-", first_zone=1)``: :meth:`apply` the filters of this host's
    ports, :meth:`clear` everything it made (iptables chains with ``prefix``, the nft bridge
    table named ``prefix`` without its dash; conntrack zones from ``first_zone`` up)."""

    def __init__(self, prefix: str = "kumo-", first_zone: int = 1):
        self.prefix = prefix
        self.table = prefix.rstrip("-")
        self.first_zone = first_zone
        self.broken: set[str] = set()  # port ids whose rules iptables refused (all dropped)
        self._seen: dict[str, tuple[int, frozenset[Allow]]] = {}

    def chain(self, name: str) -> str:
        return self.prefix + name

    def _port_lines(self, pf: PortFilter, version: int, broken: bool = False
                    ) -> tuple[list[str], list[str]]:
        """(chains, ``-A`` lines) of one port; a ``broken`` port drops everything both ways."""
        c = self.chain
        fwd, inp, sg, fallback = c("FORWARD"), c("INPUT"), c("sg-chain"), c("sg-fallback")
        tap, short = pf.tap, pf.port["id"][:11]
        ich, och, sch = c("i" + short), c("o" + short), c("s" + short)
        dev_out = f"-m physdev --physdev-out {tap} --physdev-is-bridged"
        dev_in = f"-m physdev --physdev-in {tap} --physdev-is-bridged"
        lines = [f"-A {fwd} {dev_out} -j {sg}", f"-A {fwd} {dev_in} -j {sg}",
                 f"-A {sg} {dev_out} -j {ich}", f"-A {sg} {dev_in} -j {och}",
                 f"-A {inp} {dev_in} -j {och}"]
        if broken:
            return [ich, och], lines + [f"-A {ich} -j DROP", f"-A {och} -j DROP"]
        # ingress (to the VM): conntrack, DHCP replies, ND/MLD, then the rules
        lines += [f"-A {ich} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
        if version == 4:
            lines.append(f"-A {ich} -p udp -m udp --sport 67 --dport 68 -j RETURN")
        else:
            lines += [f"-A {ich} -p ipv6-icmp --icmpv6-type {t} -j RETURN"
                      for t in (130, 131, 132, 134, 135, 136, 143)]
            lines.append(f"-A {ich} -p udp -m udp --sport 547 --dport 546 -j RETURN")
        lines.append(f"-A {ich} -m conntrack --ctstate INVALID -j DROP")
        lines += rule_lines(ich, pf, "ingress", version)
        lines.append(f"-A {ich} -j {fallback}")
        # egress (from the VM): DHCP/ND discovery, anti-spoofing, no DHCP server or RAs
        if version == 4:
            lines.append(f"-A {och} -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp "
                         f"--sport 68 --dport 67 -j RETURN")
        else:
            lines += [f"-A {och} -s ::/128 -d ff02::/16 -p ipv6-icmp --icmpv6-type {t} -j RETURN"
                      for t in (131, 135, 143)]
        lines.append(f"-A {och} -j {sch}")
        for mac, ip in _own_pairs(pf.port, version):
            lines.append(f"-A {sch} -s {ip} -m mac --mac-source {mac} -j RETURN")
        lines.append(f"-A {sch} -j DROP")
        if version == 4:
            lines += [f"-A {och} -p udp -m udp --sport 68 --dport 67 -j RETURN",
                      f"-A {och} -p udp -m udp --sport 67 --dport 68 -j DROP"]
        else:
            lines += [f"-A {och} -p ipv6-icmp --icmpv6-type 134 -j DROP",
                      f"-A {och} -p ipv6-icmp -j RETURN",
                      f"-A {och} -p udp -m udp --sport 546 --dport 547 -j RETURN",
                      f"-A {och} -p udp -m udp --sport 547 --dport 546 -j DROP"]
        lines += [f"-A {och} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
                  f"-A {och} -m conntrack --ctstate INVALID -j DROP"]
        lines += rule_lines(och, pf, "egress", version)
        lines.append(f"-A {och} -j {fallback}")
        return [ich, och, sch], lines

    def _filter_text(self, chains: list[str], lines: list[str]) -> str:
        c = self.chain
        head = [c("FORWARD"), c("INPUT"), c("sg-chain"), c("sg-fallback")]
        body = [f"-A {c('sg-fallback')} -j DROP", *lines, f"-A {c('sg-chain')} -j ACCEPT"]
        return "\n".join(["*filter"] + [f":{n} - [0:0]" for n in head + chains] + body
                         + ["COMMIT", ""])

    def ruleset(self, filters: list[PortFilter], version: int,
                broken: set[str] | frozenset[str] = frozenset()) -> str:
        """The ``*filter`` restore input for ``filters`` (family ``version``); ports whose id is
        in ``broken`` drop everything."""
        chains: list[str] = []
        lines: list[str] = []
        for pf in filters:
            if pf.port.get("port_security_enabled", True):
                more, extra = self._port_lines(pf, version, pf.port["id"] in broken)
                chains += more
                lines += extra
        return self._filter_text(chains, lines)

    @staticmethod
    def _tools(version: int) -> tuple[str, str, str]:
        return ("iptables", "iptables-restore", "iptables-save") if version == 4 else \
            ("ip6tables", "ip6tables-restore", "ip6tables-save")

    async def chains(self, version: int, table: str = "filter") -> set[str]:
        """Our chains currently in ``table``."""
        out = await run(self._tools(version)[2], "-t", table)
        return {line[1:].split()[0] for line in out.splitlines()
                if line.startswith(":" + self.prefix)}

    async def _hook(self, tool: str, table: str, builtin: str, chain: str) -> None:
        if (await _run_ok(tool, "-w", "-t", table, "-C", builtin, "-j", chain)) is False:
            await run(tool, "-w", "-t", table, "-I", builtin, "1", "-j", chain)

    async def zones(self, filters: list[PortFilter]) -> dict[str, int]:
        """Bridge -> conntrack zone for the bridges of ``filters`` (numbers kept from the
        current raw rules, see :mod:`kumo.network.agents.firewall_conntrack`)."""
        try:
            current = zones_from_save(await run("iptables-save", "-t", "raw"), self.prefix)
        except (HostError, OSError):
            current = {}
        return allocate_zones([pf.bridge for pf in filters if pf.bridge], current,
                              self.first_zone)

    async def _restore(self, restore: str, text: str, test: bool = False) -> None:
        await run(restore, "-w", "--noflush", *(["--test"] if test else []), input=text.encode())

    async def _find_broken(self, filters: list[PortFilter], version: int) -> set[str]:
        """Ports whose own lines iptables refuses (each tried alone with ``--test``)."""
        restore = self._tools(version)[1]
        bad = set()
        for pf in filters:
            if not pf.port.get("port_security_enabled", True):
                continue
            try:
                await self._restore(restore, self._filter_text(*self._port_lines(pf, version)),
                                    test=True)
            except HostError as e:
                log.error("firewall: port %s: rules refused, dropping all its traffic: %s",
                          pf.port["id"], e)
                bad.add(pf.port["id"])
        return bad

    async def _apply_family(self, filters: list[PortFilter], version: int,
                            zones: dict[str, int]) -> set[str]:
        tool, restore, _ = self._tools(version)
        before = await self.chains(version)
        raw = raw_ruleset(self.prefix, zones)
        broken: set[str] = set()
        text = self.ruleset(filters, version)
        try:
            await self._restore(restore, raw + text)
        except HostError:
            # One port's rules may be what iptables refuses: find it, drop its traffic, keep
            # the others; if that is not it, the old rules stay and the error goes up.
            broken = await self._find_broken(filters, version)
            if not broken:
                raise
            text = self.ruleset(filters, version, broken)
            await self._restore(restore, raw + text)
        for table, builtin in (("filter", "FORWARD"), ("filter", "INPUT"),
                               ("raw", "PREROUTING"), ("raw", "OUTPUT")):
            await self._hook(tool, table, builtin, self.chain(builtin))
        wanted = {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}
        for stale in sorted(before - wanted):
            await _run_ok(tool, "-w", "-F", stale)
            await _run_ok(tool, "-w", "-X", stale)
        return broken

    async def apply(self, filters: list[PortFilter]) -> None:
        """Make the host's filters exactly those of ``filters``: iptables/ip6tables chains and
        conntrack zones, the nft bridge table (anti-spoofing), then cut the connections of
        removed rules. HostError when iptables refuses the rules (the previous ones stay)."""
        zones = await self.zones(filters)
        broken: set[str] = set()
        for version in (4, 6):
            broken |= await self._apply_family(filters, version, zones)
        self.broken = broken
        try:
            await apply_arp(self.table, [pf.port for pf in filters])
        except (HostError, OSError) as e:
            log.error("firewall: layer-2 anti-spoofing table not applied: %s", e)
        await self._cut_removed(filters, zones)

    async def _cut_removed(self, filters: list[PortFilter], zones: dict[str, int]) -> None:
        seen: dict[str, tuple[int, frozenset[Allow]]] = {}
        for pf in filters:
            zone = zones.get(pf.bridge)
            if zone is None or not pf.port.get("port_security_enabled", True):
                continue
            now = allows(pf.rules, pf.remote_ips)
            seen[pf.port["id"]] = (zone, now)
            old_zone, old = self._seen.get(pf.port["id"], (zone, now))
            if old_zone == zone and old - now:
                addresses = [ip["ip_address"] for ip in pf.port.get("fixed_ips") or []]
                cut = await cut_removed(zone, addresses, old, now)
                if cut:
                    log.info("firewall: port %s: %d connection(s) of removed rules cut",
                             pf.port["id"], cut)
        self._seen = seen

    async def clear(self) -> None:
        """Remove every chain with our prefix, the hooks into the built-in chains and the nft
        bridge table."""
        for version in (4, 6):
            tool = self._tools(version)[0]
            for table, builtin in (("filter", "FORWARD"), ("filter", "INPUT"),
                                   ("raw", "PREROUTING"), ("raw", "OUTPUT")):
                while await _run_ok(tool, "-w", "-t", table, "-D", builtin, "-j",
                                    self.chain(builtin)):
                    pass
            for table in ("filter", "raw"):
                mine = await self.chains(version, table)
                for chain in mine:
                    await _run_ok(tool, "-w", "-t", table, "-F", chain)
                for chain in mine:
                    await _run_ok(tool, "-w", "-t", table, "-X", chain)
        await clear_arp(self.table)
        self._seen = {}


async def _run_ok(*cmd: str) -> bool:
    try:
        await run(*cmd)
        return True
    except (HostError, OSError):  # failed, or the tool is not installed
        return False


async def enable_bridge_netfilter() -> None:
    """``net.bridge.bridge-nf-call-iptables`` and ``-ip6tables`` = 1 (loads br_netfilter)."""
    if not os.path.exists("/proc/sys/net/bridge"):
        await _run_ok("modprobe", "br_netfilter")
    for name in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables"):
        try:
            with open(f"/proc/sys/net/bridge/{name}", "w") as f:
                f.write("1\n")
        except OSError as e:
            log.warning("cannot enable %s: %s", name, e)
