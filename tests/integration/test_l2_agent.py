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


# --- the agent against the in-process network API, in a private network namespace --------

@pytest.fixture
def private_netns():
    """Run this test in a fresh network namespace (its links, bridges and iptables are its own),
    then switch back: the agent removes every ``brq*``/``vxlan-*`` it does not need."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/ns/net") as original:
        assert libc.unshare(0x40000000) == 0, ctypes.get_errno()
        try:
            yield
        finally:
            assert libc.setns(original.fileno(), 0x40000000) == 0, ctypes.get_errno()


async def test_agent_wires_vxlan_networks_reports_ports_and_reconciles(private_netns, settings,
                                                                      mount, rt):
    from kumo.network.agents import l2
    from kumo.network.api import component as network_api
    await run("ip", "link", "set", "lo", "up")
    settings.network.physical_bridges = {"testnet": "brtest"}
    settings.network.firewall_driver = "iptables"
    settings.network.vni_ranges = ["700:710"]
    api = await mount(network_api, token="admin-token")
    await hostnet.ensure_bridge("brqdeadbeef00")  # a killed run's leftovers
    await run("ip", "link", "add", "vxlan-999", "type", "vxlan", "id", "999", "dstport", "4789",
              "local", "127.0.0.1")
    agent = (await mount(l2.component)).agent
    assert not await hostnet.link_exists("brqdeadbeef00")
    assert not await hostnet.link_exists("vxlan-999")

    r = await api.get("/v2.0/agents", params={"agent_type": "Linux bridge agent"})
    [me] = r.json()["agents"]
    assert (me["host"], me["binary"], me["alive"]) == ("testhost", "neutron-linuxbridge-agent", True)
    net = (await api.post("/v2.0/networks", json={"network": {"name": "p"}})).json()["network"]
    await api.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.77.0.0/24",
                                                     "ip_version": 4}})
    r = await api.post("/v2.0/ports", json={"port": {
        "network_id": net["id"], "device_owner": "compute:nova", "device_id": "vm",
        "binding:host_id": "testhost"}})
    port = r.json()["port"]
    bridge, vxlan, tap = "brq" + net["id"][:11], "vxlan-700", "tap" + port["id"][:11]
    assert port["binding:vif_details"] == {"bridge_name": bridge, "port_filter": True}
    assert port["status"] == "DOWN"
    await agent.sync()
    info = await hostnet.link_info(vxlan)
    assert info["master"] == bridge and info["linkinfo"]["info_data"]["id"] == 700
    assert info["linkinfo"]["info_data"]["port"] == 4789
    # Another host's agent appears: flooding toward its tunnel endpoint.
    peer = {"agent_type": "Linux bridge agent", "binary": "neutron-linuxbridge-agent",
            "host": "node2", "topic": "l2_agent", "configurations": {"local_ip": "192.0.2.10"}}
    await rt.bus.call("network_server", "agent_heartbeat", agent=peer)
    await agent.sync()
    assert "192.0.2.10" in await run("bridge", "fdb", "show", "dev", vxlan)
    # The "guest" tap appears in the bridge: ACTIVE, filtered; it goes: DOWN.
    await hostnet.plug_veth(tap, "eth0", bridge=bridge, netns=f"kl2agent{TAG}")
    try:
        await agent.sync()
        r = await api.get(f"/v2.0/ports/{port['id']}")
        assert r.json()["port"]["status"] == "ACTIVE"
        assert f"-N kumo-i{port['id'][:11]}" in await run("iptables", "-S")
    finally:
        await hostnet.netns_delete(f"kl2agent{TAG}")
    await agent.sync()
    r = await api.get(f"/v2.0/ports/{port['id']}")
    assert r.json()["port"]["status"] == "DOWN"
    # The last port goes: bridge, tunnel and chains go.
    assert (await api.delete(f"/v2.0/ports/{port['id']}")).status_code == 204
    await agent.sync()
    assert not await hostnet.link_exists(bridge) and not await hostnet.link_exists(vxlan)
    assert "kumo-i" not in await run("iptables", "-S")
