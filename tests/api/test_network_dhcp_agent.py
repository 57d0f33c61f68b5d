"""The DHCP agent's logic against the in-process network API, with the host faked.

The host layer (links, namespaces, dnsmasq processes, the namespace socket) is
replaced by recorders, so these run without root; tests/integration/
test_dhcp_agent.py runs the same agent on the real host.
"""
from __future__ import annotations

import asyncio
import itertools
import socket
import uuid
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from kumo.common.auth.metadata_sign import verify
from kumo.network.agents import dhcp, dnsmasq, metadata_proxy
from tests.api.test_network_support import as_token, create, network_client

ADMIN = as_token("admin-token")
SECRET = "proxy-secret"


class FakeHost:
    """Records host operations; keeps just enough state to answer questions."""

    def __init__(self):
        self.namespaces: set[str] = set()
        self.bridges: set[str] = set()
        self.veths: dict[str, dict] = {}
        self.procs: dict[Path, tuple[int, list[str]]] = {}
        self.reloads: list[int] = []
        self.killed: list[int] = []
        self.pids = itertools.count(1000)

    # kumo.common.host.net
    async def ensure_bridge(self, name, cidr=None):
        self.bridges.add(name)

    async def plug_veth(self, host_dev, ns_dev, *, bridge, netns, cidrs=(), mac=None, mtu=None):
        self.namespaces.add(netns)
        self.veths[host_dev] = {"peer": ns_dev, "bridge": bridge, "netns": netns,
                                "cidrs": list(cidrs), "mac": mac, "mtu": mtu}

    async def netns_delete(self, name):
        self.namespaces.discard(name)
        for dev in [d for d, v in self.veths.items() if v["netns"] == name]:
            del self.veths[dev]

    async def delete_link(self, name, netns=None):
        self.veths.pop(name, None)
        self.bridges.discard(name)

    async def bridge_ports(self, bridge):
        return [d for d, v in self.veths.items() if v["bridge"] == bridge]

    async def netns_exec(self, name, *argv, **kw):
        assert argv[0] == dnsmasq.DNSMASQ and name in self.namespaces
        pid_file = next(a.split("=", 1)[1] for a in argv if a.startswith("--pid-file="))
        self.procs[Path(pid_file).parent] = (next(self.pids), list(argv))
        return ""

    # kumo.network.agents.dnsmasq
    def pid_of(self, conf):
        return self.procs.get(Path(conf), (None,))[0]

    def running(self, root):
        return {conf.name: pid for conf, (pid, _) in self.procs.items() if conf.parent == Path(root)}

    def same_command(self, pid, cmd):
        return any(p == pid and argv == cmd for p, argv in self.procs.values())

    def reload(self, pid):
        self.reloads.append(pid)

    def kill(self, pid, timeout=5.0):
        self.killed.append(pid)
        for conf, (p, _) in list(self.procs.items()):
            if p == pid:
                del self.procs[conf]

    def argv(self, net_id) -> list[str]:
        return next(argv for conf, (_, argv) in self.procs.items() if conf.name == net_id)


@pytest.fixture
async def fake_host(monkeypatch, rt):
    """The host layer replaced by a FakeHost. Agents must be started with
    ``await fake_host.start()``: they are drained and stopped before the real
    functions come back, so nothing of theirs can touch the real host."""
    host = FakeHost()
    for name in ("ensure_bridge", "plug_veth", "netns_delete", "delete_link", "bridge_ports",
                 "netns_exec"):
        monkeypatch.setattr(dhcp.hostnet, name, getattr(host, name))
    for name in ("pid_of", "running", "same_command", "reload", "kill"):
        monkeypatch.setattr(dhcp.dnsmasq, name, getattr(host, name))

    async def no_real_host(*args, **kwargs):
        raise AssertionError(f"real host command from a fake-host test: {args}")

    monkeypatch.setattr(dhcp, "run", no_real_host)
    monkeypatch.setattr(dhcp.hostnet, "run", no_real_host)

    async def loopback_socket(netns, fn, *args):
        assert netns in host.namespaces
        return metadata_proxy.listen_socket("127.0.0.1", 0)

    monkeypatch.setattr(metadata_proxy, "run_in_netns", loopback_socket)
    agents: list = []

    async def start():
        comp = dhcp.component(rt)
        await comp.start()
        agents.append(comp)
        return comp

    host.start = start
    yield host
    await rt.bus.drain()
    for comp in agents:
        await comp.stop()


@pytest.fixture
async def api(mount, settings):
    settings.metadata.shared_secret = SECRET
    return await network_client(mount)


async def _dhcp_ports(api, net_id):
    r = await api.get("/v2.0/ports", params={"network_id": net_id, "device_owner": "network:dhcp"},
                      headers=ADMIN)
    return r.json()["ports"]


async def test_agent_configures_and_follows_a_network(api, mount, rt, fake_host, settings):
    comp = await fake_host.start()
    net = await create(api, "network", name="n")
    sub = await create(api, "subnet", network_id=net["id"], cidr="10.10.0.0/24", ip_version=4,
                       dns_nameservers=["192.0.2.1"])
    vm = await create(api, "port", network_id=net["id"], device_id="vm-1")
    await rt.bus.drain()

    [dport] = await _dhcp_ports(api, net["id"])
    assert dport["device_id"] == f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, 'testhost')}-{net['id']}"
    assert dport["binding:host_id"] == "testhost" and dport["project_id"] == net["project_id"]
    dhcp_ip = dport["fixed_ips"][0]["ip_address"]
    ns = "qdhcp-" + net["id"]
    tap = "tap" + dport["id"][:11]
    assert fake_host.namespaces == {ns}
    assert fake_host.veths[tap] == {"peer": "ns-" + dport["id"][:11], "bridge": "brq" + net["id"][:11],
                                   "netns": ns, "cidrs": [f"{dhcp_ip}/24", "169.254.169.254/32"],
                                   "mac": dport["mac_address"], "mtu": 1450}
    assert "brq" + net["id"][:11] in fake_host.bridges
    conf = settings.path("dhcp", net["id"])
    hosts = (conf / "host").read_text().splitlines()
    vm_ip = vm["fixed_ips"][0]["ip_address"]
    assert f"{vm['mac_address']},host-{vm_ip.replace('.', '-')},{vm_ip}" in hosts
    assert len(hosts) == 2  # the VM and the DHCP port itself
    argv = fake_host.argv(net["id"])
    assert f"--dhcp-range=set:subnet-{sub['id']},10.10.0.0,static,255.255.255.0,86400s" in argv
    assert f"--interface=ns-{dport['id'][:11]}" in argv
    assert comp.agent.proxies[net["id"]].running

    # A changed subnet option: files rewritten, dnsmasq SIGHUPed, not restarted.
    pid = fake_host.pid_of(conf)
    r = await api.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"dns_nameservers": ["192.0.2.9"]}})
    assert r.status_code == 200
    await rt.bus.drain()
    assert fake_host.pid_of(conf) == pid and pid in fake_host.reloads
    assert f"tag:subnet-{sub['id']},option:dns-server,192.0.2.9" in (conf / "opts").read_text()

    # A second DHCP subnet: the DHCP port gets an address there and dnsmasq restarts.
    sub2 = await create(api, "subnet", network_id=net["id"], cidr="10.11.0.0/24", ip_version=4)
    await rt.bus.drain()
    [dport] = await _dhcp_ports(api, net["id"])
    assert {ip["subnet_id"] for ip in dport["fixed_ips"]} == {sub["id"], sub2["id"]}
    assert pid in fake_host.killed and fake_host.pid_of(conf) != pid
    assert any(a.startswith(f"--dhcp-range=set:subnet-{sub2['id']},10.11.0.0")
               for a in fake_host.argv(net["id"]))
    assert len(fake_host.veths[tap]["cidrs"]) == 3

    # DHCP disabled everywhere: everything goes, the DHCP port too.
    for s in (sub, sub2):
        await api.put(f"/v2.0/subnets/{s['id']}", json={"subnet": {"enable_dhcp": False}})
    await rt.bus.drain()
    assert fake_host.namespaces == set() and fake_host.procs == {}
    assert await _dhcp_ports(api, net["id"]) == []
    assert not conf.exists() and net["id"] not in comp.agent.proxies
    assert "brq" + net["id"][:11] not in fake_host.bridges


async def test_flat_network_uses_the_physical_bridge(api, mount, rt, fake_host, settings):
    settings.network.physical_bridges = {"public": "br-test"}
    net = await create(api, "network", "admin-token", name="pub", shared=True,
                       **{"provider:network_type": "flat", "provider:physical_network": "public"})
    await create(api, "subnet", "admin-token", network_id=net["id"], cidr="172.24.4.0/24",
                 ip_version=4, allocation_pools=[{"start": "172.24.4.10", "end": "172.24.4.20"}])
    await fake_host.start()  # starts with a full sync
    [dport] = await _dhcp_ports(api, net["id"])
    assert dport["fixed_ips"][0]["ip_address"] == "172.24.4.10"
    assert dport["binding:vif_details"]["bridge_name"] == "br-test"
    assert fake_host.veths["tap" + dport["id"][:11]]["bridge"] == "br-test"
    # Deleting the network tears down without touching the physical bridge.
    assert (await api.delete(f"/v2.0/networks/{net['id']}", headers=ADMIN)).status_code == 204
    await rt.bus.drain()
    assert fake_host.namespaces == set() and fake_host.procs == {}
    assert "br-test" in fake_host.bridges


async def test_start_reconciles_leftovers(api, mount, rt, fake_host, settings):
    gone = str(uuid.uuid4())
    stale = settings.path("dhcp", gone)
    stale.mkdir(parents=True)
    dnsmasq.write_state(stale, {"port_id": "p", "tap": "tapdeadbeef-00", "ns_dev": "ns-deadbeef-00",
                                "bridge": "brqdeadbeef-00", "own_bridge": "brqdeadbeef-00"})
    fake_host.namespaces.add("qdhcp-" + gone)
    fake_host.procs[stale] = (1, ["dnsmasq"])
    fake_host.veths["tapdeadbeef-00"] = {"peer": "ns-deadbeef-00", "bridge": "brqdeadbeef-00",
                                         "netns": "qdhcp-" + gone, "cidrs": [], "mac": None,
                                         "mtu": None}
    fake_host.bridges.add("brqdeadbeef-00")
    unrelated = "qdhcp-" + str(uuid.uuid4())  # no state of ours: someone else's, left alone
    fake_host.namespaces.add(unrelated)
    comp = await fake_host.start()
    assert fake_host.namespaces == {unrelated}
    assert fake_host.killed == [1] and not stale.exists()
    assert "brqdeadbeef-00" not in fake_host.bridges
    # stop() takes the host wiring down (dnsmasq, namespace) but keeps the state for the next start.
    net = await create(api, "network", name="n")
    await create(api, "subnet", network_id=net["id"], cidr="10.12.0.0/24", ip_version=4)
    await rt.bus.drain()
    assert fake_host.procs and "qdhcp-" + net["id"] in fake_host.namespaces
    await comp.stop()
    assert fake_host.procs == {} and "qdhcp-" + net["id"] not in fake_host.namespaces
    assert (rt.settings.path("dhcp", net["id"]) / "state.json").exists()


async def test_sync_survives_an_absent_api(mount, rt, fake_host):
    comp = await fake_host.start()  # no network API mounted: logged, retried later
    assert comp.agent._resync is True


async def test_metadata_proxy_forwards_signed_requests(api, mount, rt, router, fake_host, settings):
    seen = []

    async def meta(request: Request):
        seen.append(dict(request.headers))
        if request.url.path == "/missing":
            return PlainTextResponse("nope", status_code=404)
        return JSONResponse({"path": request.url.path, "body": (await request.body()).decode()})

    router.add(settings.endpoint("metadata"), Starlette(routes=[
        Route("/{p:path}", meta, methods=["GET", "POST"])]))
    comp = await fake_host.start()
    net = await create(api, "network", name="loop")
    await create(api, "subnet", network_id=net["id"], cidr="127.0.0.0/24", ip_version=4,
                 allocation_pools=[{"start": "127.0.0.100", "end": "127.0.0.200"}])
    vm = await create(api, "port", "admin-token", network_id=net["id"], device_id="inst-1",
                      project_id="p-1", fixed_ips=[{"ip_address": "127.0.0.1"}])
    await rt.bus.drain()
    proxy = comp.agent.proxies[net["id"]]
    port = proxy.server.sockets[0].getsockname()[1]

    status, body = await asyncio.to_thread(_http, port, "GET /openstack/latest/meta_data.json HTTP/1.1")
    assert status == 200 and '"path":"/openstack/latest/meta_data.json"' in body
    headers = seen[-1]
    assert headers["x-instance-id"] == "inst-1" and headers["x-tenant-id"] == "p-1"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-neutron-network-id"] == net["id"]
    assert verify(SECRET, "inst-1", headers["x-instance-id-signature"])
    assert "x-auth-token" not in headers
    status, body = await asyncio.to_thread(_http, port, "POST /post HTTP/1.1", b"hello")
    assert status == 200 and '"body":"hello"' in body
    status, _ = await asyncio.to_thread(_http, port, "GET /missing HTTP/1.1")
    assert status == 404
    status, _ = await asyncio.to_thread(_http, port, "garbage")
    assert status == 400
    # The guest address no longer belongs to a port: 404 from the proxy itself.
    calls = len(seen)
    assert (await api.delete(f"/v2.0/ports/{vm['id']}")).status_code == 204
    status, _ = await asyncio.to_thread(_http, port, "GET /latest HTTP/1.1")
    assert status == 404 and len(seen) == calls


def _http(port: int, request_line: str, body: bytes = b"") -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"{request_line}\r\nHost: 169.254.169.254\r\nContent-Length: {len(body)}\r\n\r\n"
                  .encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload.decode()
