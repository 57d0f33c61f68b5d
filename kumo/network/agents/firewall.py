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

log = logging.getLogger(__name__)

PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132}
PORTED = ("tcp", "udp", "sctp")


@dataclass
class PortFilter:
    """What the firewall needs of one port.

    ``port``: the API's port dict (id, mac_address, fixed_ips, allowed_address_pairs,
    port_security_enabled); ``rules``: the security group rule dicts of its groups;
    ``remote_ips``: remote group id -> member ports' fixed IPs (both families)."""

    port: dict
    rules: list[dict] = field(default_factory=list)
    remote_ips: dict[str, list[str]] = field(default_factory=dict)

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


def _own_pairs(port: dict, version: int) -> list[tuple[str, str]]:
    mac = port["mac_address"]
    pairs = [(mac, ip["ip_address"]) for ip in port.get("fixed_ips") or []]
    pairs += [(p.get("mac_address") or mac, p["ip_address"])
              for p in port.get("allowed_address_pairs") or []]
    if version == 6:  # the link-local address SLAAC derives from the MAC (EUI-64)
        octets = [int(x, 16) for x in mac.split(":")]
        octets[0] ^= 2
        eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
        words = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
        pairs.append((mac, "fe80::" + ":".join(words)))
    return [(m, a) for m, a in pairs if _family(a) == version]


class Firewall:
    """``Firewall(prefix="kumo-")``: :meth:`apply` the filters of this host's ports,
    :meth:`clear` everything it made."""

    def __init__(self, prefix: str = "kumo-"):
        self.prefix = prefix

    def chain(self, name: str) -> str:
        return self.prefix + name

    def ruleset(self, filters: list[PortFilter], version: int) -> str:
        """The ``iptables-restore --noflush`` input for ``filters`` (family ``version``)."""
        c = self.chain
        fwd, inp, sg, fallback = c("FORWARD"), c("INPUT"), c("sg-chain"), c("sg-fallback")
        chains = [fwd, inp, sg, fallback]
        lines: list[str] = []
        lines.append(f"-A {fallback} -j DROP")
        for pf in filters:
            if not pf.port.get("port_security_enabled", True):
                continue
            tap, short = pf.tap, pf.port["id"][:11]
            ich, och, sch = c("i" + short), c("o" + short), c("s" + short)
            chains += [ich, och, sch]
            dev_out = f"-m physdev --physdev-out {tap} --physdev-is-bridged"
            dev_in = f"-m physdev --physdev-in {tap} --physdev-is-bridged"
            lines += [f"-A {fwd} {dev_out} -j {sg}", f"-A {fwd} {dev_in} -j {sg}",
                      f"-A {sg} {dev_out} -j {ich}", f"-A {sg} {dev_in} -j {och}",
                      f"-A {inp} {dev_in} -j {och}"]
            # ingress (to the VM)
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
        lines.append(f"-A {sg} -j ACCEPT")
        head = ["*filter"] + [f":{name} - [0:0]" for name in chains]
        return "\n".join(head + lines + ["COMMIT", ""])

    @staticmethod
    def _tools(version: int) -> tuple[str, str, str]:
        return ("iptables", "iptables-restore", "iptables-save") if version == 4 else \
            ("ip6tables", "ip6tables-restore", "ip6tables-save")

    async def chains(self, version: int) -> set[str]:
        """Our chains currently in table filter."""
        out = await run(self._tools(version)[2], "-t", "filter")
        return {line[1:].split()[0] for line in out.splitlines()
                if line.startswith(":" + self.prefix)}

    async def _hook(self, tool: str, builtin: str, chain: str) -> None:
        if (await _run_ok(tool, "-w", "-C", builtin, "-j", chain)) is False:
            await run(tool, "-w", "-I", builtin, "1", "-j", chain)

    async def apply(self, filters: list[PortFilter]) -> None:
        """Make the host's chains exactly those of ``filters`` (both families); HostError."""
        for version in (4, 6):
            tool, restore, _ = self._tools(version)
            before = await self.chains(version)
            text = self.ruleset(filters, version)
            await run(restore, "-w", "--noflush", input=text.encode())
            await self._hook(tool, "FORWARD", self.chain("FORWARD"))
            await self._hook(tool, "INPUT", self.chain("INPUT"))
            wanted = {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}
            for stale in sorted(before - wanted):
                await _run_ok(tool, "-w", "-F", stale)
                await _run_ok(tool, "-w", "-X", stale)

    async def clear(self) -> None:
        """Remove every chain with our prefix and the hooks into FORWARD/INPUT."""
        for version in (4, 6):
            tool = self._tools(version)[0]
            for builtin, name in (("FORWARD", "FORWARD"), ("INPUT", "INPUT")):
                while await _run_ok(tool, "-w", "-D", builtin, "-j", self.chain(name)):
                    pass
            mine = await self.chains(version)
            for chain in mine:
                await _run_ok(tool, "-w", "-F", chain)
            for chain in mine:
                await _run_ok(tool, "-w", "-X", chain)


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
