"""Conntrack zones per network bridge, and cutting the connections a removed rule allowed.

Zones: table ``raw`` (iptables and ip6tables) holds ``P PREROUTING`` (hooked
from PREROUTING) with ``-i <bridge> -j CT --zone N`` for each bridge with a
filtered port — with br_netfilter, a frame bridged in ``<bridge>`` (from a
tap, another VM or the uplink) is seen in PREROUTING with the bridge as its
input device — and ``P OUTPUT`` (hooked from OUTPUT) with ``-o <bridge> -j CT
--zone N`` so the host's own traffic with its VMs (the flat provider bridge
holds the host's address) is tracked in the same zone both ways. Two networks
using the same addresses thus never share a conntrack entry.

Zone numbers are allocated per bridge, lowest free first (from
``first_zone``, 1 in the agent; 0 is the kernel's default zone), and are read
back from the raw rules themselves on every apply (:func:`zones_from_save`),
so a restarted agent keeps each bridge's zone without a state file. A bridge
that has no filtered port any more frees its number.

Removed rules: neutron's iptables firewall driver deletes the conntrack
entries of deleted security group rules and of remote group members that left
(an established flow is not grandfathered in); so do we. After the new rules
are in place (not before: a packet in between would recreate the entry) we
delete, in the port's zone, the entries that a rule which disappeared allowed
and that no remaining rule allows (:func:`cut_removed`): connections initiated toward the port for ingress
rules (original destination = the port's address), from it for egress rules.
Such a connection's next packet is then judged by the rules as a new one and
dropped, so removing an ssh rule cuts an established ssh session. Only rules
the running agent saw are compared: the first apply after a restart cuts
nothing.
"""
from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import Iterable

from kumo.common.host.process import HostError, run

log = logging.getLogger(__name__)

ZONE_MAX = 65535
PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132}
PORTED = (6, 17, 132)
ICMPS = (1, 58)


def zones_from_save(text: str, prefix: str) -> dict[str, int]:
    """Bridge -> zone from ``iptables-save -t raw`` output (our ``-i <bridge> -j CT --zone N``)."""
    zones = {}
    pat = re.compile(rf"^-A {re.escape(prefix)}PREROUTING -i (\S+) -j CT --zone (\d+)$")
    for line in text.splitlines():
        m = pat.match(line.strip())
        if m:
            zones[m.group(1)] = int(m.group(2))
    return zones


def allocate_zones(bridges: Iterable[str], current: dict[str, int],
                   first: int = 1) -> dict[str, int]:
    """Zones for ``bridges``: the ``current`` number where there is one, else the lowest free
    number >= ``first``. ValueError when the 16-bit zone space is exhausted."""
    wanted = sorted(set(bridges))
    out = {b: current[b] for b in wanted if b in current}
    used = set(out.values())
    nxt = first
    for bridge in wanted:
        if bridge in out:
            continue
        while nxt in used:
            nxt += 1
        if nxt > ZONE_MAX:
            raise ValueError("no conntrack zone left")
        out[bridge] = nxt
        used.add(nxt)
    return out


def raw_ruleset(prefix: str, zones: dict[str, int]) -> str:
    """The ``*raw`` part of the restore input: zone assignment for each bridge in ``zones``."""
    pre, out = prefix + "PREROUTING", prefix + "OUTPUT"
    lines = ["*raw", f":{pre} - [0:0]", f":{out} - [0:0]"]
    for bridge, zone in sorted(zones.items()):
        lines += [f"-A {pre} -i {bridge} -j CT --zone {zone}",
                  f"-A {out} -o {bridge} -j CT --zone {zone}"]
    return "\n".join(lines + ["COMMIT", ""])


# --- what a port's rules allow, to compare two applies -----------------------------------

@dataclass(frozen=True)
class Allow:
    """One allowed flow of a port: ``direction`` ingress|egress, IP ``version``, protocol number
    (None = any, -1 = a protocol we cannot match), port range (TCP/UDP/SCTP) or ICMP type
    (``low``), remote CIDR (None = anywhere)."""

    direction: str
    version: int
    proto: int | None
    low: int | None
    high: int | None
    remote: str | None

    def matches(self, entry: dict, unknown: bool = False) -> bool:
        """Whether this allows conntrack ``entry`` (see :func:`parse_entries`) of the port;
        ``unknown`` is the answer for a protocol we cannot match."""
        if self.proto == -1:
            return unknown
        if self.proto is not None and entry["proto"] != self.proto:
            return False
        if self.low is not None:
            if self.proto in PORTED:
                if entry.get("dport") is None or \
                        not self.low <= entry["dport"] <= (self.high if self.high is not None
                                                           else self.low):
                    return False
            elif self.proto in ICMPS and entry.get("type") != self.low:
                return False
        if self.remote is not None:
            peer = entry["src"] if self.direction == "ingress" else entry["dst"]
            if ipaddress.ip_address(peer) not in ipaddress.ip_network(self.remote, strict=False):
                return False
        return True


def _proto_number(proto, version: int) -> int | None:
    if proto in (None, "", "any"):
        return None
    text = str(proto).lower()
    num = int(text) if text.isdigit() else PROTOCOL_NUMBERS.get(text, -1)
    return 58 if (num == 1 and version == 6) else num


def allows(rules: list[dict], remote_ips: dict[str, list[str]]) -> frozenset[Allow]:
    """The flows security group ``rules`` allow (remote groups expanded with ``remote_ips``)."""
    out = set()
    for rule in rules:
        version = 6 if rule.get("ethertype") == "IPv6" else 4
        proto = _proto_number(rule.get("protocol"), version)
        if rule.get("remote_group_id"):
            remotes = [ip for ip in remote_ips.get(rule["remote_group_id"], [])
                       if ipaddress.ip_address(ip).version == version]
        elif rule.get("remote_ip_prefix"):
            remotes = [rule["remote_ip_prefix"]]
        else:
            remotes = [None]
        for remote in remotes:
            out.add(Allow(rule.get("direction", ""), version, proto, rule.get("port_range_min"),
                          rule.get("port_range_max"), remote))
    return frozenset(out)


# --- conntrack entries ----------------------------------------------------------------------

_KV = re.compile(r"(\w+)=(\S+)")


def parse_entries(text: str) -> list[dict]:
    """``conntrack -L`` lines -> dicts of the original direction: proto (number), src, dst,
    sport/dport or type/code/id (ints) where present."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2 or not words[1].isdigit():
            continue
        entry: dict = {"proto": int(words[1])}
        for key, value in _KV.findall(line):
            if key in entry or key in ("mark", "zone", "use", "secctx"):
                continue  # the first src/dst/... are the original direction's
            entry[key] = int(value) if key in ("sport", "dport", "type", "code", "id") else value
        if "src" in entry and "dst" in entry:
            out.append(entry)
    return out


def _delete_args(entry: dict) -> list[str]:
    args = ["-p", str(entry["proto"]), "--orig-src", entry["src"], "--orig-dst", entry["dst"]]
    if "sport" in entry and "dport" in entry:
        args += ["--sport", str(entry["sport"]), "--dport", str(entry["dport"])]
    elif "type" in entry:
        args += ["--icmp-type" if entry["proto"] == 1 else "--icmpv6-type", str(entry["type"]),
                 "--icmp-code" if entry["proto"] == 1 else "--icmpv6-code", str(entry.get("code", 0))]
        if "id" in entry:
            args += ["--icmp-id" if entry["proto"] == 1 else "--icmpv6-id", str(entry["id"])]
    return args


async def cut_removed(zone: int, addresses: list[str], old: frozenset[Allow],
                      new: frozenset[Allow]) -> int:
    """Delete the entries in ``zone`` of a port with ``addresses`` that an Allow of ``old`` not
    in ``new`` allowed and no Allow of ``new`` allows; returns how many went. Failures are
    logged (a missing ``conntrack`` tool cuts nothing)."""
    removed = old - new
    cut = 0
    for direction in ("ingress", "egress"):
        for version in (4, 6):
            gone = [a for a in removed if a.direction == direction and a.version == version]
            if not gone:
                continue
            kept = [a for a in new if a.direction == direction and a.version == version]
            for address in addresses:
                if ipaddress.ip_address(address).version != version:
                    continue
                side = "--orig-dst" if direction == "ingress" else "--orig-src"
                base = ["conntrack", "-f", f"ipv{version}", "-w", str(zone)]
                try:
                    listed = await run(*base, "-L", side, address)
                except (HostError, OSError) as e:
                    log.warning("firewall: cannot list conntrack entries: %s", e)
                    return cut
                for entry in parse_entries(listed):
                    # never cut what a remaining rule may still allow
                    if any(a.matches(entry) for a in gone) and \
                            not any(a.matches(entry, unknown=True) for a in kept):
                        try:
                            await run(*base, "-D", *_delete_args(entry))
                            cut += 1
                        except (HostError, OSError):
                            pass  # gone meanwhile
    return cut
