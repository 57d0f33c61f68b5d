"""The DHCP agent on the real host: namespaces, veths, a test bridge, dnsmasq, udhcpc.

Runs the network API in-process (``mount``) and the DHCP agent against it, on
a bridge made for the test (never br-ex). Needs root; the DHCP client check
needs busybox (``busybox-static``, see host-packages.txt).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import uuid
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kumo.common.auth.metadata_sign import verify
from kumo.common.host import net as hostnet
from kumo.common.host.process import run
from kumo.network.agents import dhcp, dnsmasq
from kumo.network.api import component as network_api

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges, dnsmasq)"),
]

TAG = f"{os.getpid() % 10000:04d}"
BRIDGE = f"kumodt{TAG}"          # the test's physical bridge
CLIENT_NS = f"kumo-dhcpcl-{TAG}"  # a "guest" namespace plugged into the bridge
CLIENT_HOST, CLIENT_DEV = f"kdc{TAG}h", f"kdc{TAG}g"
SECRET = "test-metadata-secret"


@pytest.fixture
def dhcp_settings(settings):
    settings.network.physical_bridges = {"testnet": BRIDGE}
    settings.metadata.shared_secret = SECRET
    return settings


@pytest.fixture
async def host(dhcp_settings):
    """Refuses a pre-existing test bridge; afterwards removes whatever the test made."""
    assert not await hostnet.link_exists(BRIDGE), f"{BRIDGE} exists already; not touching it"
    made: list[str] = []   # network ids
    yield made
    root = dhcp_settings.path("dhcp")
    for pid in dnsmasq.running(root).values():
        await asyncio.to_thread(dnsmasq.kill, pid)
    for net_id in made:
        await hostnet.netns_delete(dhcp.NS_PREFIX + net_id)
    await hostnet.netns_delete(CLIENT_NS)
    await hostnet.delete_link(CLIENT_HOST)
    await hostnet.delete_link(BRIDGE)


@pytest.fixture
def metadata_app(router, dhcp_settings):
    """A fake metadata API on settings.endpoint("metadata") that echoes what it got."""
    seen: list[dict] = []

    async def anything(request: Request):
        headers = dict(request.headers)
        seen.append({"path": request.url.path, "headers": headers})
        return JSONResponse({"path": request.url.path,
                             "instance": headers.get("x-instance-id"),
                             "tenant": headers.get("x-tenant-id"),
                             "forwarded": headers.get("x-forwarded-for"),
                             "signed": verify(SECRET, headers.get("x-instance-id", ""),
                                              headers.get("x-instance-id-signature", ""))})

    app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])
    router.add(dhcp_settings.endpoint("metadata"), app)
    return seen


async def _flat_network(api, host_made, cidr="10.251.0.0/24", **subnet):
    r = await api.post("/v2.0/networks", json={"network": {
        "name": "dhcp-test", "provider:network_type": "flat",
        "provider:physical_network": "testnet", "shared": True}})
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    host_made.append(net["id"])
    r = await api.post("/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": cidr, "ip_version": 4, **subnet}})
    assert r.status_code == 201, r.text
    return net, r.json()["subnet"]


async def _port(api, net_id, **extra):
    r = await api.post("/v2.0/ports", json={"port": {"network_id": net_id, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["port"]


async def _dhcp_port(api, net_id):
    r = await api.get("/v2.0/ports", params={"network_id": net_id, "device_owner": "network:dhcp"})
    ports = r.json()["ports"]
    assert len(ports) == 1, ports
    return ports[0]


async def test_dhcp_agent_serves_a_flat_network(host, mount, rt, dhcp_settings, metadata_app):
    api = await mount(network_api, token="admin-token")
    net, subnet = await _flat_network(api, host, dns_nameservers=["192.0.2.53"])
    vm = await _port(api, net["id"], device_id="vm-1", device_owner="compute:nova",
                     **{"binding:host_id": "testhost"})
    comp = await mount(dhcp.component)
    agent = comp.agent
    ns = dhcp.NS_PREFIX + net["id"]
    conf = dhcp_settings.path("dhcp", net["id"])

    # The DHCP port: bound to this host, an address from the pool, on the test bridge.
    dport = await _dhcp_port(api, net["id"])
    assert dport["device_id"] == f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, 'testhost')}-{net['id']}"
    assert dport["binding:host_id"] == "testhost" and dport["status"] == "ACTIVE"
    assert dport["binding:vif_details"]["bridge_name"] == BRIDGE
    dhcp_ip = dport["fixed_ips"][0]["ip_address"]

    assert ns in await hostnet.netns_list()
    tap, ns_dev = "tap" + dport["id"][:11], "ns-" + dport["id"][:11]
    assert (await hostnet.link_info(tap))["master"] == BRIDGE
    info = await hostnet.link_info(ns_dev, ns)
    assert info["address"] == dport["mac_address"]
    addrs = await hostnet.addresses(ns_dev, ns)
    assert f"{dhcp_ip}/24" in addrs and "169.254.169.254/32" in addrs

    pid = dnsmasq.pid_of(conf)
    assert pid, "dnsmasq is not running"
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert f"--interface={ns_dev}".encode() in cmdline
    assert f"--dhcp-range=set:subnet-{subnet['id']},10.251.0.0,static,255.255.255.0,86400s".encode() \
        in cmdline
    vm_ip = vm["fixed_ips"][0]["ip_address"]
    hosts = (conf / "host").read_text()
    assert f"{vm['mac_address']},host-{vm_ip.replace('.', '-')},{vm_ip}\n" in hosts
    opts = (conf / "opts").read_text()
    assert f"tag:subnet-{subnet['id']},option:classless-static-route," \
           f"169.254.169.254/32,{dhcp_ip},0.0.0.0/0,10.251.0.1" in opts
    assert f"tag:subnet-{subnet['id']},option:router,10.251.0.1" in opts
    assert f"tag:subnet-{subnet['id']},option:dns-server,192.0.2.53" in opts

    # A new port reaches the hosts file through the fanout; dnsmasq is only SIGHUPed.
    vm2 = await _port(api, net["id"], device_id="vm-2", dns_name="web2")
    await rt.bus.drain()
    vm2_ip = vm2["fixed_ips"][0]["ip_address"]
    assert f"{vm2['mac_address']},web2,{vm2_ip}\n" in (conf / "host").read_text()
    assert dnsmasq.pid_of(conf) == pid

    # The agent heartbeats: it is listed, alive.
    r = await api.get("/v2.0/agents", params={"agent_type": "DHCP agent"})
    agents = r.json()["agents"]
    assert [(a["host"], a["alive"], a["binary"]) for a in agents] == [("testhost", True,
                                                                        "kumo-dhcp-agent")]

    # A "guest" with vm's MAC in its own namespace, plugged into the bridge.
    await hostnet.plug_veth(CLIENT_HOST, CLIENT_DEV, bridge=BRIDGE, netns=CLIENT_NS,
                            mac=vm["mac_address"])
    if shutil.which("busybox"):
        lease = await _udhcpc(dhcp_settings.path("udhcpc"))
        assert lease["ip"] == vm_ip
        assert lease["router"] == "10.251.0.1"
        assert lease["dns"] == "192.0.2.53"
        assert lease["staticroutes"].split() == ["169.254.169.254/32", dhcp_ip,
                                                 "0.0.0.0/0", "10.251.0.1"]
    else:  # the lease is a bonus; the metadata check below still runs
        print("busybox missing: DHCP client check not run")

    # Metadata from the guest's namespace, through the proxy in qdhcp-<net>.
    await hostnet.add_address(CLIENT_DEV, f"{vm_ip}/24", CLIENT_NS)
    await run("ip", "-n", CLIENT_NS, "route", "replace", "169.254.169.254/32", "via", dhcp_ip)
    status, body = await hostnet.run_in_netns(CLIENT_NS, _http_get, "169.254.169.254",
                                              "/latest/meta-data/instance-id")
    assert status == 200, body
    answer = json.loads(body)
    assert answer == {"path": "/latest/meta-data/instance-id", "instance": "vm-1",
                      "tenant": vm["project_id"], "forwarded": vm_ip, "signed": True}

    # An address no port holds gets 404 from the proxy, and nothing reaches metadata.
    await hostnet.sync_addresses(CLIENT_DEV, ["10.251.0.250/24"], CLIENT_NS)
    await run("ip", "-n", CLIENT_NS, "route", "replace", "169.254.169.254/32", "via", dhcp_ip)
    calls = len(metadata_app)
    status, _ = await hostnet.run_in_netns(CLIENT_NS, _http_get, "169.254.169.254", "/latest")
    assert status == 404 and len(metadata_app) == calls

    # Removing a port takes it out of the hosts file.
    assert (await api.delete(f"/v2.0/ports/{vm2['id']}")).status_code == 204
    await rt.bus.drain()
    assert vm2["mac_address"] not in (conf / "host").read_text()

    # Deleting the network removes dnsmasq, the proxy, the namespace and the veth.
    for port in (vm,):
        assert (await api.delete(f"/v2.0/ports/{port['id']}")).status_code == 204
    assert (await api.delete(f"/v2.0/networks/{net['id']}")).status_code == 204
    await rt.bus.drain()
    assert ns not in await hostnet.netns_list()
    assert not await hostnet.link_exists(tap)
    assert not dnsmasq.running(dhcp_settings.path("dhcp"))
    assert not Path(f"/proc/{pid}").exists() or not dnsmasq.same_command(pid, ["dnsmasq"])
    assert not conf.exists()
    assert net["id"] not in agent.proxies


async def test_agent_restart_reconciles_leftovers(host, mount, rt, dhcp_settings):
    api = await mount(network_api, token="admin-token")
    keep, _ = await _flat_network(api, host)
    comp = await mount(dhcp.component)
    first = comp.agent
    conf = dhcp_settings.path("dhcp", keep["id"])
    pid = dnsmasq.pid_of(conf)
    assert pid

    # stop(): dnsmasq, the namespace and the veth go; the wiring state stays for the next start.
    tap = dnsmasq.read_state(conf)["tap"]
    await comp.stop()
    assert dnsmasq.pid_of(conf) is None
    assert dhcp.NS_PREFIX + keep["id"] not in await hostnet.netns_list()
    assert not await hostnet.link_exists(tap)
    assert (conf / "state.json").exists()

    # A run that dies without stopping (dnsmasq survives), then the network goes
    # away while no agent listens.
    await first.start()
    pid = dnsmasq.pid_of(conf)
    assert pid
    await _die(first, rt)
    assert (await api.delete(f"/v2.0/networks/{keep['id']}")).status_code == 204

    # The next run removes what belonged to the vanished network.
    second = dhcp.DhcpAgent(rt)
    await second.start()
    try:
        assert dhcp.NS_PREFIX + keep["id"] not in await hostnet.netns_list()
        assert dnsmasq.pid_of(conf) is None and not dnsmasq.running(dhcp_settings.path("dhcp"))
        assert not conf.exists()
    finally:
        await second.stop()


async def test_restart_adopts_running_dnsmasq(host, mount, rt, dhcp_settings):
    api = await mount(network_api, token="admin-token")
    net, _ = await _flat_network(api, host)
    first = dhcp.DhcpAgent(rt)
    await first.start()
    conf = dhcp_settings.path("dhcp", net["id"])
    pid = dnsmasq.pid_of(conf)
    await _die(first, rt)

    second = dhcp.DhcpAgent(rt)
    await second.start()
    try:
        assert dnsmasq.pid_of(conf) == pid  # same command line: kept and SIGHUPed
        assert second.proxies[net["id"]].running
    finally:
        await second.stop()
    assert dnsmasq.pid_of(conf) is None


async def _die(agent: dhcp.DhcpAgent, rt) -> None:
    """What a killed agent process leaves: dnsmasq and namespaces, no listeners, no sockets."""
    await rt.bus.drain()
    agent._started = False
    for task in agent._tasks:
        task.cancel()
    await rt.bus.unserve(agent.endpoint)
    for proxy in agent.proxies.values():
        await proxy.stop()


async def _udhcpc(workdir: Path) -> dict:
    """Run busybox udhcpc in the client namespace; the variables its script saw on "bound"."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "bound.env"
    script = workdir / "script.sh"
    script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && env > {out}\nexit 0\n')
    script.chmod(0o755)
    await hostnet.netns_exec(CLIENT_NS, "busybox", "udhcpc", "-i", CLIENT_DEV, "-f", "-q", "-n",
                             "-t", "5", "-T", "1", "-O", "staticroutes", "-s", str(script),
                             timeout=60)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    return env


def _http_get(host: str, path: str) -> tuple[int, str]:
    with socket.create_connection((host, 80), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


async def test_dhcpv6_and_unscheduling(host, mount, rt, dhcp_settings):
    """dnsmasq serves a DHCPv6-stateful subnet (addresses) from the namespace; taking the
    network off the agent (DHCP agent scheduler) tears its namespace and dnsmasq down."""
    api = await mount(network_api, token="admin-token")
    r = await api.post("/v2.0/networks", json={"network": {
        "name": "dhcp6-test", "provider:network_type": "flat", "provider:physical_network": "testnet"}})
    net = r.json()["network"]
    host.append(net["id"])
    r = await api.post("/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "fd00:251::/64", "ip_version": 6,
        "ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"}})
    assert r.status_code == 201, r.text
    subnet = r.json()["subnet"]
    vm = await _port(api, net["id"], device_id="vm-6", device_owner="compute:nova")
    vm_ip = vm["fixed_ips"][0]["ip_address"]
    ns, conf = dhcp.NS_PREFIX + net["id"], dhcp_settings.path("dhcp", net["id"])
    # a namespace file without its namespace (what a killed sandbox leaves) is renewed
    Path("/run/netns", ns).touch()
    comp = await mount(dhcp.component)
    pid = dnsmasq.pid_of(conf)
    assert pid, "dnsmasq is not running"
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert f"--dhcp-range=set:subnet-{subnet['id']},fd00:251::,static,64,86400s".encode() in cmdline
    assert f"{vm['mac_address']},host-{vm_ip.replace(':', '-')},[{vm_ip}]" in \
        (conf / "host").read_text().splitlines()
    sockets = await hostnet.netns_exec(ns, "ss", "-Hlun")
    assert ":547 " in sockets  # the DHCPv6 server port
    dport = await _dhcp_port(api, net["id"])
    assert f"{dport['fixed_ips'][0]['ip_address']}/64" in \
        await hostnet.addresses("ns-" + dport["id"][:11], ns)

    [agent] = (await api.get(f"/v2.0/networks/{net['id']}/dhcp-agents")).json()["agents"]
    assert agent["host"] == "testhost"
    r = await api.delete(f"/v2.0/agents/{agent['id']}/dhcp-networks/{net['id']}")
    assert r.status_code == 204
    await rt.bus.drain()
    assert ns not in await hostnet.netns_list()
    assert dnsmasq.pid_of(conf) is None
    assert comp.agent.served == set()
