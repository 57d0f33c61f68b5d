"""The L2 agent's firewall on the real host: two namespaces as "VMs" on a test bridge.

Each VM is a namespace plugged by a veth whose host end is named like a VM tap
(``tap<port id[:11]>``); :class:`Firewall` is fed the Networking API's port and
rule dicts directly. Chains use a per-run prefix so parallel runs and a running
agent (prefix ``kumo-``) never clash; everything is removed afterwards.
"""
from __future__ import annotations

import os
import socket
import uuid

import pytest

from kumo.common.host import net as hostnet
from kumo.common.host.process import HostError, run
from kumo.network.agents.firewall import Firewall, PortFilter, enable_bridge_netfilter

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges, iptables)"),
]

TAG = f"{os.getpid() % 10000:04d}"
BRIDGE = f"kl2b{TAG}"
PREFIX = f"kt{TAG}-"
SUBNET = "10.252.7"


def _port(n: int) -> dict:
    pid = str(uuid.uuid4())
    return {"id": pid, "mac_address": f"fa:16:3e:00:{int(TAG) % 256:02x}:{n:02x}",
            "fixed_ips": [{"subnet_id": "s", "ip_address": f"{SUBNET}.{n}"}],
            "allowed_address_pairs": [], "port_security_enabled": True}


def _rule(direction: str, **kw) -> dict:
    return {"direction": direction, "ethertype": "IPv4", "protocol": None, "port_range_min": None,
            "port_range_max": None, "remote_ip_prefix": None, "remote_group_id": None, **kw}


EGRESS_ALL = [_rule("egress"), _rule("egress", ethertype="IPv6")]


@pytest.fixture
async def vms():
    """Two "VMs" (namespace, port) on a fresh bridge; removes namespaces, bridge and chains."""
    assert not await hostnet.link_exists(BRIDGE), f"{BRIDGE} exists already; not touching it"
    await enable_bridge_netfilter()
    await hostnet.ensure_bridge(BRIDGE)
    made = []
    try:
        for n in (1, 2):
            port = _port(n)
            ns = f"kl2vm{TAG}-{n}"
            await hostnet.plug_veth("tap" + port["id"][:11], f"eth{TAG}", bridge=BRIDGE, netns=ns,
                                    cidrs=[f"{SUBNET}.{n}/24"], mac=port["mac_address"])
            made.append((ns, port))
        yield made
    finally:
        await Firewall(PREFIX).clear()
        for ns, port in made:
            await hostnet.delete_link("tap" + port["id"][:11])
            await hostnet.netns_delete(ns)
        await hostnet.delete_link(BRIDGE)


async def ping(ns: str, ip: str) -> bool:
    try:
        await run(*hostnet.netns_exec_argv(ns, "busybox", "ping", "-c", "1", "-W", "1", ip),
                  timeout=10)
        return True
    except HostError:
        return False


def _listen(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(8)
    return s


def _connect(ip: str, port: int, source: str | None) -> bool:
    with socket.socket() as c:
        c.settimeout(1.5)
        if source:
            c.bind((source, 0))
        try:
            c.connect((ip, port))
            return True
        except OSError:
            return False


async def tcp(ns: str, ip: str, port: int, source: str | None = None) -> bool:
    return await hostnet.run_in_netns(ns, _connect, ip, port, source)


async def test_firewall_enforces_rules_antispoofing_and_cleans_up(vms):
    (ns1, p1), (ns2, p2) = vms
    fw = Firewall(PREFIX)
    ip1, ip2 = f"{SUBNET}.1", f"{SUBNET}.2"
    assert await ping(ns1, ip2)  # no filter yet
    listener = await hostnet.run_in_netns(ns2, _listen, 8022)
    other = await hostnet.run_in_netns(ns2, _listen, 8080)
    try:
        # VM 2 allows only ssh-like TCP 8022 from VM 1's /32; no ICMP.
        f1 = PortFilter(p1, EGRESS_ALL)
        f2 = PortFilter(p2, EGRESS_ALL + [_rule("ingress", protocol="tcp", port_range_min=8022,
                                                  port_range_max=8022, remote_ip_prefix=f"{ip1}/32")])
        await fw.apply([f1, f2])
        assert {PREFIX + "i" + p2["id"][:11], PREFIX + "o" + p1["id"][:11]} <= await fw.chains(4)
        assert not await ping(ns1, ip2)
        assert await tcp(ns1, ip2, 8022)
        assert not await tcp(ns1, ip2, 8080)
        # Add ICMP ingress: ping works; replies come back through conntrack.
        f2.rules.append(_rule("ingress", protocol="icmp"))
        await fw.apply([f1, f2])
        assert await ping(ns1, ip2)
        # VM 2 has no ingress rule at all for VM 1's pings to be answered: VM 1 gets nothing.
        assert not await ping(ns2, ip1)
        # Remote group: VM 1 allows everything from group "g" whose member is VM 2.
        f1.rules.append(_rule("ingress", remote_group_id="g"))
        f1.remote_ips = {"g": [ip2]}
        await fw.apply([f1, f2])
        assert await ping(ns2, ip1)
        # Anti-spoofing: VM 1 sending from an address that is not its own is dropped...
        spoofed = f"{SUBNET}.77"
        await hostnet.add_address(f"eth{TAG}", f"{spoofed}/24", ns1)
        f2.rules.append(_rule("ingress", protocol="tcp"))
        await fw.apply([f1, f2])
        assert await tcp(ns1, ip2, 8080)
        assert not await tcp(ns1, ip2, 8080, source=spoofed)
        # ... unless it is an allowed address pair.
        p1["allowed_address_pairs"] = [{"ip_address": spoofed}]
        await fw.apply([f1, f2])
        assert await tcp(ns1, ip2, 8080, source=spoofed)
        # port_security_enabled = false: no filtering of VM 2 (ICMP without a rule).
        f2.rules = list(EGRESS_ALL)
        await fw.apply([f1, f2])
        assert not await ping(ns1, ip2)
        p2["port_security_enabled"] = False
        await fw.apply([f1, f2])
        assert await ping(ns1, ip2)
        assert PREFIX + "i" + p2["id"][:11] not in await fw.chains(4)
        # A port that goes away loses its chains.
        await fw.apply([])
        assert await fw.chains(4) == {PREFIX + c for c in ("FORWARD", "INPUT", "sg-chain",
                                                              "sg-fallback")}
    finally:
        listener.close()
        other.close()
    await fw.clear()
    assert await fw.chains(4) == set() and await fw.chains(6) == set()
    rules = await run("iptables", "-S", "FORWARD")
    assert PREFIX not in rules
