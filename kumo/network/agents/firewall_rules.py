"""The iptables side of :mod:`kumo.network.agents.firewall`: its input (:class:`PortFilter`),
the lines a port's security group rules become, the addresses a port may send from, and
reading our part of ``iptables-save`` (:func:`parse_save`).

Rules are the Networking API's security group rule dicts (Networking API v2.0,
"Security group rules"): direction, ethertype, protocol (name or number),
port_range_min/max (ICMP type/code), remote_ip_prefix or remote_group_id.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

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


def own_pairs(port: dict, version: int) -> list[tuple[str, str]]:
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


# (table, built-in chain) that jump to our chain of the same name (prefix + built-in), first rule
HOOKS = (("filter", "FORWARD"), ("filter", "INPUT"), ("raw", "PREROUTING"), ("raw", "OUTPUT"))


@dataclass
class Saved:
    """What ``iptables-save`` (or a restore input) holds of ours: ``chains`` per table,
    ``hooks`` ((table, built-in) -> how many ``-A <built-in> -j <P built-in>``), ``rules``
    (``-A`` lines in our chains per table) and the ``text`` itself."""

    chains: dict[str, set[str]]
    hooks: dict[tuple[str, str], int]
    rules: dict[str, int]
    text: str

    def fingerprint(self) -> tuple:
        return (tuple(sorted((t, tuple(sorted(c))) for t, c in self.chains.items() if c)),
                tuple(sorted((t, n) for t, n in self.rules.items() if n)))

    def hooked(self, hooks: tuple[tuple[str, str], ...]) -> bool:
        return all(self.hooks.get(h) for h in hooks)


def parse_save(text: str, prefix: str) -> Saved:
    """Our part of ``iptables-save`` output (or of a restore input)."""
    chains: dict[str, set[str]] = {}
    hooks: dict[tuple[str, str], int] = {}
    rules: dict[str, int] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":" + prefix):
            chains.setdefault(table, set()).add(line[1:].split()[0])
        elif line.startswith("-A "):
            words = line.split()
            if words[1].startswith(prefix):
                rules[table] = rules.get(table, 0) + 1
            elif len(words) == 4 and words[2] == "-j" and words[3] == prefix + words[1]:
                hooks[(table, words[1])] = hooks.get((table, words[1]), 0) + 1
    return Saved(chains, hooks, rules, text)
