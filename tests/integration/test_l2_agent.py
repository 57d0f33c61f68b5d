"""The L2 agent's firewall on the real host: two namespaces as "VMs" on a test bridge.

Each VM is a namespace plugged by a veth whose host end is named like a VM tap
(``tap<port id[:11]>``); :class:`Firewall` is fed the Networking API's port and
rule dicts directly. Chains use a per-run prefix so parallel runs and a running
agent (prefix ``kumo-``) never clash; everything is removed afterwards.
"""
from __future__ import annotations

import asyncio

import os
import socket
import uuid

import pytest

from kumo.common.host import net as hostnet
from kumo.common.host.process import HostError, run
from kumo.network.agents.firewall import Firewall, PortFilter, enable_bridge_netfilter
from kumo.network.agents.firewall_arp import arp_chains
from kumo.network.agents.firewall_rules import link_local

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


async def _plug(bridge: str, label: str, ports: list[dict], made: list) -> None:
    """Plug one namespace per port into ``bridge`` (appending (ns, port) to ``made``)."""
    await hostnet.ensure_bridge(bridge)
    for n, port in enumerate(ports, 1):
        ns = f"kl2{label}{TAG}-{n}"
        cidr = port["fixed_ips"][0]["ip_address"] + "/24"
        await hostnet.plug_veth("tap" + port["id"][:11], f"eth{TAG}", bridge=bridge, netns=ns,
                                cidrs=[cidr], mac=port["mac_address"])
        made.append((ns, port))


async def _unplug(made: list, bridges: list[str]) -> None:
    await Firewall(PREFIX).clear()
    for ns, port in made:
        await hostnet.delete_link("tap" + port["id"][:11])
        await hostnet.netns_delete(ns)
    for bridge in bridges:
        await hostnet.delete_link(bridge)


@pytest.fixture
async def vms():
    """Two "VMs" (namespace, port) on a fresh bridge; removes namespaces, bridge and chains."""
    assert not await hostnet.link_exists(BRIDGE), f"{BRIDGE} exists already; not touching it"
    await enable_bridge_netfilter()
    made: list = []
    try:
        await _plug(BRIDGE, "vm", [_port(1), _port(2)], made)
        yield made
    finally:
        await _unplug(made, [BRIDGE])


async def ping(ns: str, ip: str, tries: int = 1) -> bool:
    tool = "ping6" if ":" in ip else "ping"
    for _ in range(tries):
        try:
            await run(*hostnet.netns_exec_argv(ns, "busybox", tool, "-c", "1", "-W", "1", ip),
                      timeout=10)
            return True
        except HostError:
            continue
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
    assert await ping(ns1, ip2, tries=3)  # no filter yet (the first may go while links settle)
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


async def arping(ns: str, ip: str) -> bool:
    """Whether an ARP request from ``ns`` for ``ip`` gets an answer."""
    try:
        await run(*hostnet.netns_exec_argv(ns, "busybox", "arping", "-f", "-c", "2", "-w", "2",
                                           "-I", f"eth{TAG}", ip), timeout=10)
        return True
    except HostError:
        return False


async def test_arp_and_mac_antispoofing(vms):
    (ns1, p1), (ns2, p2) = vms
    fw = Firewall(PREFIX)
    ip1, spoofed = f"{SUBNET}.1", f"{SUBNET}.77"
    # VM 1 also answers ARP for an address that is not its port's.
    await hostnet.add_address(f"eth{TAG}", f"{spoofed}/24", ns1)
    assert await arping(ns2, spoofed)  # without the firewall, the lie goes through
    allow_all = [_rule("ingress"), *EGRESS_ALL]
    f1, f2 = PortFilter(p1, list(allow_all)), PortFilter(p2, list(allow_all))
    await fw.apply([f1, f2])
    assert "m" + p1["id"][:11] in await arp_chains(fw.table)
    assert await arping(ns2, ip1)  # its own address: answered
    assert not await arping(ns2, spoofed)  # the spoofed ARP reply is dropped at the tap
    p1["allowed_address_pairs"] = [{"ip_address": f"{SUBNET}.64/27"}]  # .77 is in it
    await fw.apply([f1, f2])
    assert await arping(ns2, spoofed)
    # Another source MAC: every frame from the tap is dropped, ARP included.
    await hostnet.set_link(f"eth{TAG}", ns1, mac="fa:16:3e:99:99:99")
    await run(*hostnet.netns_exec_argv(ns1, "ip", "neigh", "flush", "all"))
    assert not await arping(ns1, f"{SUBNET}.2")
    assert not await ping(ns1, f"{SUBNET}.2")
    p1["port_security_enabled"] = False  # exempt: anything goes
    await fw.apply([f1, f2])
    assert "m" + p1["id"][:11] not in await arp_chains(fw.table)
    assert await arping(ns1, f"{SUBNET}.2")
    await fw.clear()
    assert await arp_chains(fw.table) == set()


async def test_ipv6_own_addresses_nd_mld_pass_spoofed_source_dropped(vms):
    (ns1, p1), (ns2, p2) = vms
    fw = Firewall(PREFIX)
    six1, six2, spoofed = "fd00:7:7::1", "fd00:7:7::2", "fd00:7:7::77"
    for ns, port, addr in ((ns1, p1, six1), (ns2, p2, six2)):
        await run(*hostnet.netns_exec_argv(ns, "ip", "addr", "add", f"{addr}/64", "dev",
                                           f"eth{TAG}", "nodad"))
        port["fixed_ips"].append({"subnet_id": "s6", "ip_address": addr})
    icmp6_in = _rule("ingress", ethertype="IPv6", protocol="ipv6-icmp")
    await fw.apply([PortFilter(p1, list(EGRESS_ALL)), PortFilter(p2, EGRESS_ALL + [icmp6_in])])
    # Neighbour discovery passes both ways (the peers start with empty neighbour tables) ...
    assert await ping(ns1, six2, tries=3)
    # ... and so does the EUI-64 link-local address derived from the port's MAC.
    assert await ping(ns1, f"{link_local(p2['mac_address'])}%eth{TAG}", tries=3)
    # MLD reports (ICMPv6 143) from a VM are not dropped as spoofing.
    out = await run("ip6tables-save", "-t", "filter")
    assert "--icmpv6-type 143 -j RETURN" in out
    # A source address that is not the port's is dropped.
    await run(*hostnet.netns_exec_argv(ns1, "ip", "addr", "add", f"{spoofed}/64", "dev",
                                       f"eth{TAG}", "nodad"))
    ok = await run(*hostnet.netns_exec_argv(ns1, "busybox", "ping6", "-c", "1", "-W", "1", "-I",
                                            spoofed, six2), check=False, timeout=10)
    assert " 0% packet loss" not in ok
    p1["allowed_address_pairs"] = [{"ip_address": spoofed}]  # now it is one of its own
    await fw.apply([PortFilter(p1, list(EGRESS_ALL)), PortFilter(p2, EGRESS_ALL + [icmp6_in])])
    ok = await run(*hostnet.netns_exec_argv(ns1, "busybox", "ping6", "-c", "1", "-W", "2", "-I",
                                            spoofed, six2), check=False, timeout=10)
    assert " 0% packet loss" in ok


async def test_one_bad_port_and_a_missing_tap_do_not_break_the_others(vms):
    (ns1, p1), (ns2, p2) = vms
    fw = Firewall(PREFIX)
    ghost = _port(9)  # its tap does not exist (yet)
    bad = _rule("ingress", protocol="no-such-protocol")
    filters = [PortFilter(p1, [_rule("ingress", protocol="icmp"), *EGRESS_ALL]),
               PortFilter(p2, [_rule("ingress", protocol="icmp"), bad, *EGRESS_ALL]),
               PortFilter(ghost, [_rule("ingress", protocol="icmp"), *EGRESS_ALL])]
    await fw.apply(filters)
    assert fw.broken == {p2["id"]}
    assert PREFIX + "i" + ghost["id"][:11] in await fw.chains(4)
    assert not await ping(ns1, f"{SUBNET}.2")  # the refused port fails closed
    filters[1].rules.remove(bad)
    await fw.apply(filters)
    assert fw.broken == set()
    assert await ping(ns1, f"{SUBNET}.2", tries=2)
    # Applying the same filters again changes nothing.
    before = [x for x in (await run("iptables-save")).splitlines() if PREFIX in x]
    await fw.apply(filters)
    assert [x for x in (await run("iptables-save")).splitlines() if PREFIX in x] == before


# --- conntrack zones: two networks, same addresses ------------------------------------------

@pytest.fixture
async def twin_networks():
    """Two bridges each with two "VMs" using the same addresses (10.252.7.1 and .2)."""
    bridges = [BRIDGE, f"kl2c{TAG}"]
    for bridge in bridges:
        assert not await hostnet.link_exists(bridge), f"{bridge} exists already"
    await enable_bridge_netfilter()
    made: list = []
    try:
        await _plug(bridges[0], "za", [_port(1), _port(2)], made)
        await _plug(bridges[1], "zb", [_port(1), _port(2)], made)
        yield bridges, made
    finally:
        await _unplug(made, bridges)


def _accept(server: socket.socket) -> socket.socket:
    server.settimeout(5)
    conn, _ = server.accept()
    conn.settimeout(1.5)
    return conn


def _client(ip: str, port: int, source: tuple[str, int]) -> socket.socket:
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.settimeout(3)
    c.bind(source)
    c.connect((ip, port))
    return c


def _delivered(client: socket.socket, conn: socket.socket) -> bool:
    client.send(b"x")
    try:
        return conn.recv(1) == b"x"
    except OSError:
        return False


async def test_conntrack_zones_separate_networks_and_removed_rule_cuts_connection(twin_networks):
    bridges, [(a1, pa1), (a2, pa2), (b1, pb1), (b2, pb2)] = twin_networks
    fw = Firewall(PREFIX, first_zone=60000 + int(TAG) % 5000)
    ip1, ip2 = f"{SUBNET}.1", f"{SUBNET}.2"
    ssh = _rule("ingress", protocol="tcp", port_range_min=8022, port_range_max=8022)
    filters = [PortFilter(pa1, list(EGRESS_ALL), bridge=bridges[0]),
               PortFilter(pa2, EGRESS_ALL + [ssh], bridge=bridges[0]),
               PortFilter(pb1, list(EGRESS_ALL), bridge=bridges[1]),
               PortFilter(pb2, EGRESS_ALL + [dict(ssh)], bridge=bridges[1])]
    await fw.apply(filters)
    zones = await fw.zones(filters)
    assert len(set(zones.values())) == 2 and set(zones) == set(bridges)
    assert await fw.zones(filters) == zones  # read back from the rules: stable
    servers = [await hostnet.run_in_netns(ns, _listen, 8022) for ns in (a2, b2)]
    socks = list(servers)
    try:
        # The very same TCP tuple on both networks: two connections, one entry in each zone.
        ca = await hostnet.run_in_netns(a1, _client, ip2, 8022, (ip1, 40022))
        socks.append(ca)
        cb = await hostnet.run_in_netns(b1, _client, ip2, 8022, (ip1, 40022))
        socks.append(cb)
        conn_a, conn_b = _accept(servers[0]), _accept(servers[1])
        socks += [conn_a, conn_b]
        assert _delivered(ca, conn_a) and _delivered(cb, conn_b)
        listed = await run("conntrack", "-L", "-p", "tcp", "--orig-src", ip1, "--orig-dst", ip2,
                           "--sport", "40022", "--dport", "8022")
        assert {f"zone={zones[b]}" for b in bridges} <= set(listed.split())
        # Removing the rule on network A cuts A's established connection; B keeps its rule
        # and its connection.
        filters[1].rules.remove(ssh)
        await fw.apply(filters)
        assert not _delivered(ca, conn_a)
        assert _delivered(cb, conn_b)
        listed = await run("conntrack", "-L", "-p", "tcp", "--orig-src", ip1, "--orig-dst", ip2,
                           "--sport", "40022", "--dport", "8022")
        assert f"zone={zones[bridges[1]]}" in listed.split()
        assert f"zone={zones[bridges[0]]}" not in listed.split()
    finally:
        for s in socks:
            s.close()
    await fw.clear()
    assert PREFIX not in await run("iptables-save", "-t", "raw")


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
                                                                      mount, rt, monkeypatch):
    from kumo.network.agents import l2
    from kumo.network.api import component as network_api
    monkeypatch.setattr(l2, "STALE_GRACE_SECONDS", 0.0)  # removals at once (the grace: below)
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
        # its network's conntrack zone, and MAC/ARP anti-spoofing at its tap
        assert f"-A kumo-PREROUTING -i {bridge} -j CT --zone 1" in \
            await run("iptables-save", "-t", "raw")
        assert "m" + port["id"][:11] in await arp_chains("kumo")
        # admin_state_up false: the tap leaves the bridge (DOWN); true: back in (ACTIVE)
        for up, master, status in ((False, None, "DOWN"), (True, bridge, "ACTIVE")):
            r = await api.put(f"/v2.0/ports/{port['id']}", json={"port": {"admin_state_up": up}})
            assert r.status_code == 200, r.text
            await agent.sync()
            assert (await hostnet.link_info(tap)).get("master") == master
            assert (await api.get(f"/v2.0/ports/{port['id']}")).json()["port"]["status"] == status
    finally:
        await hostnet.netns_delete(f"kl2agent{TAG}")
    await agent.sync()
    r = await api.get(f"/v2.0/ports/{port['id']}")
    assert r.json()["port"]["status"] == "DOWN"
    # The last port goes: bridge, tunnel and chains go, once they stayed unneeded for the grace
    # period (a bridge made for a binding the agent has not seen yet is not pulled away)
    assert (await api.delete(f"/v2.0/ports/{port['id']}")).status_code == 204
    agent.stale_grace = 0.5
    await agent.sync()
    assert await hostnet.link_exists(bridge) and await hostnet.link_exists(vxlan)
    await asyncio.sleep(0.6)
    await agent.sync()
    assert not await hostnet.link_exists(bridge) and not await hostnet.link_exists(vxlan)
    assert "kumo-i" not in await run("iptables", "-S")
    assert "--zone" not in await run("iptables-save", "-t", "raw")
