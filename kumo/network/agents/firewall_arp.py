"""Layer-2 anti-spoofing of VM taps: an ``nft`` table of the bridge family.

One table (``bridge <name>``, ``kumo`` in the agent) holds everything: a base
chain on the bridge ``prerouting`` hook (priority ``filter``, before
br_netfilter hands IP frames to iptables) maps each filtered tap
(``iifname``) to its chain ``m<port id[:11]>``, which drops a frame from the
VM when

- its Ethernet source is not one of the port's MACs (its own, and those of its
  allowed address pairs) — whatever the ethertype, so ARP, IPv6 and anything
  else spoofed stops here;
- it is ARP whose sender MAC is not one of those MACs, or whose sender IP is
  neither a fixed IP, an allowed address pair (address or CIDR), nor 0.0.0.0
  (the RFC 5227 probe a DHCP client sends before taking its address; it
  updates nobody's cache).

Ports with port security off get no chain. The table is rewritten whole in one
``nft -f`` transaction (create, delete, define: atomic, and stale port chains
vanish with the old table); :func:`clear_arp` deletes it. Addresses and MACs
come from the Networking API's port (``mac_address``, ``fixed_ips``,
``allowed_address_pairs``); one that does not parse is left out (and logged), so a
port whose own MAC is unusable sends nothing at all.
"""
from __future__ import annotations

import ipaddress
import logging
import re

from kumo.common.host.process import HostError, run

log = logging.getLogger(__name__)

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _macs(port: dict) -> list[str]:
    """The MACs ``port`` may send from (lower case, valid ones only, own MAC first)."""
    out: list[str] = []
    for mac in [port.get("mac_address")] + [p.get("mac_address") for p in
                                            port.get("allowed_address_pairs") or []]:
        mac = (mac or "").lower()
        if mac and mac not in out:
            if _MAC.match(mac):
                out.append(mac)
            else:
                log.warning("firewall: port %s: ignoring MAC %r", port.get("id"), mac)
    return out


def _arp_ips(port: dict) -> list[str]:
    """IPv4 addresses/CIDRs ``port`` may claim in ARP (fixed IPs and allowed address pairs)."""
    out: list[str] = []
    for raw in [ip.get("ip_address") for ip in port.get("fixed_ips") or []] + \
            [p.get("ip_address") for p in port.get("allowed_address_pairs") or []]:
        try:
            net = ipaddress.ip_network(str(raw), strict=False)
        except ValueError:
            log.warning("firewall: port %s: ignoring address %r", port.get("id"), raw)
            continue
        if net.version == 4:
            text = str(net.network_address) if net.prefixlen == 32 else str(net)
            if text not in out:
                out.append(text)
    return out


def arp_ruleset(table: str, ports: list[dict]) -> str:
    """The ``nft -f`` input that replaces table ``bridge <table>`` with the chains of ``ports``
    (the API's port dicts; those with port security off are skipped)."""
    chains, vmap = [], []
    for port in ports:
        if not port.get("port_security_enabled", True):
            continue
        short = port["id"][:11]
        name = "m" + short
        vmap.append(f'"tap{short}" : jump {name}')
        body = []
        macs = _macs(port)
        if not macs:
            body.append("drop")
        else:
            macset = "{ " + ", ".join(macs) + " }"
            body += [f"ether saddr != {macset} drop", f"arp saddr ether != {macset} drop"]
            ips = _arp_ips(port) + ["0.0.0.0"]
            body.append("arp saddr ip != { " + ", ".join(ips) + " } drop")
        chains.append(f"  chain {name} {{\n" + "".join(f"    {r}\n" for r in body) + "  }")
    hook = ["  chain prerouting {",
            "    type filter hook prerouting priority filter; policy accept;"]
    if vmap:
        hook.append("    iifname vmap { " + ", ".join(vmap) + " }")
    hook.append("  }")
    return "\n".join([f"table bridge {table}", f"delete table bridge {table}",
                      f"table bridge {table} {{", *hook, *chains, "}", ""])


async def apply_arp(table: str, ports: list[dict]) -> None:
    """Replace table ``bridge <table>`` atomically; HostError when nft refuses (nothing changes)."""
    await run("nft", "-f", "-", input=arp_ruleset(table, ports).encode())


async def arp_chains(table: str) -> set[str]:
    """The chains of table ``bridge <table>`` (empty when it does not exist)."""
    try:
        out = await run("nft", "list", "table", "bridge", table)
    except (HostError, OSError):
        return set()
    return {line.split()[1] for line in out.splitlines() if line.strip().startswith("chain ")}


async def clear_arp(table: str) -> None:
    """Delete table ``bridge <table>`` if it exists."""
    try:
        await run("nft", "-f", "-", input=f"table bridge {table}\ndelete table bridge {table}\n"
                  .encode())
    except (HostError, OSError) as e:  # nft missing: nothing of ours can exist
        log.debug("firewall: no bridge table to clear: %s", e)
