"""A router namespace on the real host: SNAT from an internal "VM" namespace to a host-side
address, a floating IP reachable from the host, static routes, and nothing left behind.

Test bridges and namespaces carry this run's pid, so parallel runs do not clash. Needs root and
busybox (ping; see host-packages.txt).
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import uuid

import pytest

from kumo.common.host import net as hostnet
from kumo.common.host.process import HostError, run
from kumo.network.agents import l3_wiring, radvd
from kumo.network.agents.l3_wiring import Interface, RouterSpec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges, iptables)"),
]

TAG = f"{os.getpid() % 10000:04d}"
N = os.getpid() % 200 + 20
EXT_BRIDGE, INT_BRIDGE = f"kl3x{TAG}", f"kl3i{TAG}"
VM_NS, VM_HOST = f"kumo-l3vm-{TAG}", f"kl3v{TAG}"
HOST_IP = f"100.64.{N}.1"                     # the host's address on the external bridge
GW_IP, FIP = f"100.64.{N}.10", f"100.64.{N}.20"
ROUTER_IP, VM_IP = f"10.77.{N}.1", f"10.77.{N}.5"


async def ping(ip: str, netns: str | None = None, tries: int = 1) -> bool:
    """True once one echo of ``tries`` is answered (fresh wiring may first need ARP)."""
    argv = ["busybox", "ping", "-c", "1", "-W", "1", ip]
    for _ in range(tries):
        try:
            await run(*(hostnet.netns_exec_argv(netns, *argv) if netns else argv), timeout=10)
            return True
        except HostError:
            pass
    return False


@pytest.fixture
async def topology():
    """External and internal bridges, a VM namespace on the internal one; all removed after."""
    for name in (EXT_BRIDGE, INT_BRIDGE):
        assert not await hostnet.link_exists(name), f"{name} exists already; not touching it"
    await hostnet.ensure_bridge(EXT_BRIDGE, f"{HOST_IP}/24")
    await hostnet.ensure_bridge(INT_BRIDGE)
    await hostnet.plug_veth(VM_HOST, "eth0", bridge=INT_BRIDGE, netns=VM_NS, cidrs=[f"{VM_IP}/24"])
    await hostnet.netns_exec(VM_NS, "ip", "route", "replace", "default", "via", ROUTER_IP)
    spec = RouterSpec(router_id=str(uuid.uuid4()), gateway_ip=HOST_IP, snat_ip=GW_IP, interfaces=[
        Interface(str(uuid.uuid4()), "qg", "fa:16:3e:00:01:01", EXT_BRIDGE, [f"{GW_IP}/24"]),
        Interface(str(uuid.uuid4()), "qr", "fa:16:3e:00:01:02", INT_BRIDGE, [f"{ROUTER_IP}/24"])])
    yield spec
    await l3_wiring.unwire(spec.router_id, [i.host_dev for i in spec.interfaces])
    await hostnet.netns_delete(VM_NS)
    await hostnet.delete_link(VM_HOST)
    await hostnet.delete_link(EXT_BRIDGE)
    await hostnet.delete_link(INT_BRIDGE)


async def test_snat_floating_ip_routes_and_cleanup(topology):
    spec = topology
    assert not await ping(HOST_IP, VM_NS)        # no router yet
    devs = await l3_wiring.wire(spec)
    assert await l3_wiring.wire(spec) == devs    # idempotent
    # SNAT: the host has no route to 10.77.N.0/24, so replies only come back to the gateway address
    assert await ping(HOST_IP, VM_NS, tries=5)
    nat = await hostnet.netns_exec(spec.netns, "iptables-save", "-t", "nat")
    assert f"-j SNAT --to-source {GW_IP}" in nat and ":kumo-snat" in nat
    assert not await ping(FIP)
    # a floating IP: reachable from the host, and the VM leaves as it
    spec.floating_ips = {FIP: VM_IP}
    spec.routes = [{"destination": "192.0.2.0/24", "nexthop": VM_IP}]
    await l3_wiring.wire(spec)
    assert await ping(FIP, tries=5)
    assert f"{FIP}/32" in await hostnet.addresses(f"qg-{spec.interfaces[0].port_id[:11]}", spec.netns)
    routes = await hostnet.netns_exec(spec.netns, "ip", "route", "show", "proto", "static")
    assert f"192.0.2.0/24 via {VM_IP}" in routes
    # without SNAT and floating IP the VM is cut off again; the stale route goes
    spec.floating_ips, spec.snat_ip, spec.routes = {}, None, []
    await l3_wiring.wire(spec)
    assert not await ping(FIP)
    assert not await ping(HOST_IP, VM_NS)
    assert "192.0.2.0" not in await hostnet.netns_exec(spec.netns, "ip", "route", "show")
    # removing an interface from the spec removes its device
    qr = spec.interfaces.pop()
    await l3_wiring.wire(spec)
    assert not await hostnet.link_exists(qr.ns_dev, spec.netns)
    assert not await hostnet.link_exists(qr.host_dev)
    await l3_wiring.unwire(spec.router_id, devs)
    assert not await hostnet.netns_exists(spec.netns)
    assert [d for d in devs if await hostnet.link_exists(d)] == []


@pytest.fixture
def l3_settings(settings):
    settings.network.physical_bridges = {"l3ext": EXT_BRIDGE, "l3int": INT_BRIDGE}
    return settings


async def _post(api, kind: str, **body) -> dict:
    r = await api.post(f"/v2.0/{kind}s", json={kind: body})
    assert r.status_code == 201, r.text
    return r.json()[kind]


async def test_l3_agent_wires_routers_from_the_api(topology, l3_settings, mount, rt):
    from kumo.network.agents import l3
    from kumo.network.api import component as network_api

    api = await mount(network_api, token="admin-token")
    ext = await _post(api, "network", name="ext", **{
        "router:external": True, "provider:network_type": "flat", "provider:physical_network": "l3ext"})
    await _post(api, "subnet", network_id=ext["id"], cidr=f"100.64.{N}.0/24", ip_version=4,
                gateway_ip=HOST_IP, enable_dhcp=False,
                allocation_pools=[{"start": GW_IP, "end": f"100.64.{N}.30"}])
    inner = await _post(api, "network", name="inner", **{
        "provider:network_type": "flat", "provider:physical_network": "l3int"})
    sub = await _post(api, "subnet", network_id=inner["id"], cidr=f"10.77.{N}.0/24", ip_version=4,
                      enable_dhcp=False)
    router = await _post(api, "router", name="r", external_gateway_info={"network_id": ext["id"]})
    r = await api.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    vm = await _post(api, "port", network_id=inner["id"], device_id="vm-1", device_owner="compute:nova",
                     fixed_ips=[{"subnet_id": sub["id"], "ip_address": VM_IP}])
    fip = await _post(api, "floatingip", floating_network_id=ext["id"], port_id=vm["id"])

    async def fip_status() -> str:
        return (await api.get(f"/v2.0/floatingips/{fip['id']}")).json()["floatingip"]["status"]

    comp = await mount(l3.component)
    ns = l3_wiring.NS_PREFIX + router["id"]
    assert await hostnet.netns_exists(ns)
    ports = (await api.get("/v2.0/ports", params={"device_id": router["id"]})).json()["ports"]
    assert {p["binding:host_id"] for p in ports} == {"testhost"}
    assert await ping(HOST_IP, VM_NS, tries=5)                       # SNAT
    assert await ping(fip["floating_ip_address"], tries=5)           # DNAT
    agents = (await api.get("/v2.0/agents", params={"agent_type": "L3 agent"})).json()["agents"]
    assert [(a["binary"], a["alive"]) for a in agents] == [("neutron-l3-agent", True)]
    # unscheduling the router from the agent takes its namespace down; scheduling rewires it
    url = f"/v2.0/agents/{agents[0]['id']}/l3-routers"
    assert (await api.delete(f"{url}/{router['id']}")).status_code == 204
    await rt.bus.drain()
    assert not await hostnet.netns_exists(ns)
    assert not await ping(fip["floating_ip_address"])
    assert await fip_status() == "DOWN"  # the agent reports what it wired, or that nobody did
    assert (await api.post(url, json={"router_id": router["id"]})).status_code == 201
    await rt.bus.drain()
    assert await ping(fip["floating_ip_address"], tries=5)
    assert await fip_status() == "ACTIVE"
    # admin_state_up false takes the router down (no namespace, no traffic); true rewires it
    for up in (False, True):
        r = await api.put(f"/v2.0/routers/{router['id']}", json={"router": {"admin_state_up": up}})
        assert r.status_code == 200, r.text
        await rt.bus.drain()
        assert await hostnet.netns_exists(ns) is up
        assert await ping(fip["floating_ip_address"], tries=5 if up else 1) is up
        assert await fip_status() == ("ACTIVE" if up else "DOWN")

    # an interface on a SLAAC subnet: the router's radvd advertises the prefix to the VM
    sub6 = await _post(api, "subnet", network_id=inner["id"], cidr=f"{V6_PREFIX}/64", ip_version=6,
                       ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    r = await api.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub6["id"]})
    assert r.status_code == 200, r.text
    await rt.bus.drain()
    assert radvd.pid_of(comp.agent.radvd_root, router["id"])
    await hostnet.netns_exec(VM_NS, "ip", "link", "set", "eth0", "down")
    await hostnet.netns_exec(VM_NS, "ip", "link", "set", "eth0", "up")
    for _ in range(100):
        if await _in_prefix(VM_NS, "eth0"):
            break
        await asyncio.sleep(0.2)
    assert await _in_prefix(VM_NS, "eth0")
    r = await api.put(f"/v2.0/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub6["id"]})
    assert r.status_code == 200
    await rt.bus.drain()
    assert radvd.pid_of(comp.agent.radvd_root, router["id"]) is None

    # a change reaches the agent over the bus
    assert (await api.delete(f"/v2.0/floatingips/{fip['id']}")).status_code == 204
    await rt.bus.drain()
    assert not await ping(fip["floating_ip_address"])
    # deleting the router removes its namespace and devices
    r = await api.put(f"/v2.0/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert r.status_code == 200
    assert (await api.delete(f"/v2.0/routers/{router['id']}")).status_code == 204
    await rt.bus.drain()
    assert not await hostnet.netns_exists(ns)
    assert [p["id"] for p in ports if await hostnet.link_exists("tap" + p["id"][:11])] == []
    assert comp.agent._state_files() == []

    # stopping takes the wiring down; a namespace a killed run left for a router that no
    # longer exists goes at the next start
    kept = await _post(api, "router", name="kept", external_gateway_info={"network_id": ext["id"]})
    await rt.bus.drain()
    assert await hostnet.netns_exists(l3_wiring.NS_PREFIX + kept["id"])
    await comp.stop()
    assert not await hostnet.netns_exists(l3_wiring.NS_PREFIX + kept["id"])
    left = RouterSpec(router_id=str(uuid.uuid4()))
    await l3_wiring.wire(left)
    comp.agent._state_path(left.router_id).write_text('{"devices": []}')
    await comp.start()
    assert not await hostnet.netns_exists(left.netns)
    assert await hostnet.netns_exists(l3_wiring.NS_PREFIX + kept["id"])


V6_PREFIX = f"2001:db8:{N:x}::"


async def _in_prefix(netns: str, dev: str) -> bool:
    """True once ``dev`` has a global address in V6_PREFIX/64."""
    out = json.loads(await hostnet.netns_exec(netns, "ip", "-j", "-6", "addr", "show", "dev", dev,
                                              "scope", "global") or "[]")
    net = ipaddress.ip_network(f"{V6_PREFIX}/64")
    return any(ipaddress.ip_address(a["local"]) in net for link in out for a in link["addr_info"])


async def test_router_advertisements_give_a_vm_a_slaac_address(topology, tmp_path):
    spec = topology
    qr = spec.interfaces[1]
    qr.cidrs.append(f"{V6_PREFIX}1/64")
    qr.ra_prefixes = [(f"{V6_PREFIX}/64", "slaac")]
    await l3_wiring.wire(spec)
    prefixes = [radvd.Prefix(qr.ns_dev, cidr, mode) for cidr, mode in qr.ra_prefixes]
    root = tmp_path / "radvd"
    try:
        assert await radvd.ensure(root, spec.router_id, spec.netns, prefixes)
        pid = radvd.pid_of(root, spec.router_id)
        assert pid and radvd.routers(root) == {spec.router_id}
        assert await radvd.ensure(root, spec.router_id, spec.netns, prefixes)  # idempotent
        assert radvd.pid_of(root, spec.router_id) == pid
        # the VM (a namespace on the bridge) autoconfigures an address in the prefix
        await hostnet.netns_exec(VM_NS, "ip", "link", "set", "eth0", "down")
        await hostnet.netns_exec(VM_NS, "ip", "link", "set", "eth0", "up")  # solicits now
        for _ in range(100):
            if await _in_prefix(VM_NS, "eth0"):
                break
            await asyncio.sleep(0.2)
        assert await _in_prefix(VM_NS, "eth0")
        # no prefix left: radvd goes with its files
        assert not await radvd.ensure(root, spec.router_id, spec.netns, [])
        assert radvd.pid_of(root, spec.router_id) is None and radvd.routers(root) == set()
        assert not os.path.exists(f"/proc/{pid}/cmdline") or \
            b"radvd" not in open(f"/proc/{pid}/cmdline", "rb").read()
    finally:
        await radvd.stop(root, spec.router_id)
