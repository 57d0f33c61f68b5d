"""The install guide's networking chapter (self-service networks) on real VMs, with the real CLI.

As ``demo``: a VXLAN project network ``demo-net`` with ``10.5.5.0/24``, a router with its gateway
on the external network ``public`` and an interface on the subnet, a VM on it, the guide's two
security group rules (icmp, tcp 22) and a floating IP. From the host, ping and ssh reach the VM
through the floating IP; from the VM, a web server on the host's ``public`` bridge address
answers (the router translates the VM's address). A second project builds the same network with
the same CIDR: its VM and demo's VM cannot reach each other. Removing the ssh rule closes ssh,
adding it back opens it. Deleting everything leaves nothing on the host: no namespace, bridge,
vxlan device, iptables chain or dnsmasq process of these resources.
"""
from __future__ import annotations

import http.server
import secrets
import subprocess
import threading
import time

import pytest
import yaml

from tests.e2e.conftest import Cli, allow_ping_and_ssh, ssh, ssh_try

pytestmark = pytest.mark.e2e

SECOND = "e2e-net2"  # the second project and its user
VM2_IP = "10.5.5.50"  # the second VM's fixed IP, not used in demo-net


def _eventually(check, what: str, deadline_s: float = 60, interval: float = 1.0):
    """Poll ``check()`` until it returns something truthy; fail with ``what`` after the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def _pings(address: str) -> bool:
    return subprocess.run(["ping", "-c1", "-W1", address], capture_output=True).returncode == 0


def _host(*cmd: str) -> str:
    return subprocess.run(list(cmd), capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def second(admin, tmp_path_factory) -> Cli:
    """A second project with a member user, as a Cli on a clouds.yaml of its own."""
    password = secrets.token_urlsafe(12)
    admin.run("user", "delete", SECOND, check=False)
    admin.run("project", "delete", SECOND, check=False)
    admin.run("project", "create", "--domain", "default", SECOND)
    admin.run("user", "create", "--domain", "default", "--project", SECOND, "--password", password, SECOND)
    admin.run("role", "add", "--project", SECOND, "--user", SECOND, "member")
    auth = yaml.safe_load(open("/etc/openstack/clouds.yaml"))["clouds"]["demo"]
    auth["auth"].update(username=SECOND, password=password, project_name=SECOND)
    path = tmp_path_factory.mktemp("clouds") / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {SECOND: auth}}))
    yield Cli(SECOND, config_file=str(path))
    admin.run("user", "delete", SECOND, check=False)
    admin.run("project", "delete", SECOND, check=False)


def _clean_project(cli: Cli) -> None:
    """Delete what an earlier (killed) run of this test left in the project, in dependency order."""
    cli.run("server", "delete", "--wait", "vm-a", "vm-b", check=False, timeout=300)
    for fip in cli.json("floating", "ip", "list"):
        cli.run("floating", "ip", "delete", fip["ID"], check=False)
    if cli.run("router", "show", "demo-router", check=False).returncode == 0:
        cli.run("router", "remove", "subnet", "demo-router", "demo-subnet", check=False)
        cli.run("router", "unset", "--external-gateway", "demo-router", check=False)
        cli.run("router", "delete", "demo-router", check=False)
    cli.run("network", "delete", "demo-net", check=False)
    cli.run("keypair", "delete", "e2e-net-key", check=False)


def _self_service_network(cli: Cli, key: str) -> dict:
    """The guide's commands as the project's user; returns the ids made."""
    net = cli.json("network", "create", "demo-net")
    assert net["mtu"] == 1450  # VXLAN overhead taken off the 1500 of the underlay
    subnet = cli.json("subnet", "create", "--network", "demo-net", "--subnet-range", "10.5.5.0/24",
                      "demo-subnet")
    assert subnet["gateway_ip"] == "10.5.5.1"
    router = cli.json("router", "create", "demo-router")
    cli.run("router", "set", "--external-gateway", "public", "demo-router")
    cli.run("router", "add", "subnet", "demo-router", "demo-subnet")
    cli.run("keypair", "create", "--public-key", f"{key}.pub", "e2e-net-key")
    return {"network": net["id"], "subnet": subnet["id"], "router": router["id"]}


def _boot(cli: Cli, name: str, nic: str) -> dict:
    server = cli.json("server", "create", "--flavor", "m1.nano", "--image", "cirros", "--nic", nic,
                      "--key-name", "e2e-net-key", name, "--wait", timeout=600)
    assert server["status"] == "ACTIVE", server
    return server


class _Web:
    """A web server on the host's ``public`` bridge address that remembers who asked."""

    def __init__(self, address: str):
        self.token = secrets.token_hex(8)
        self.clients: list[str] = []
        web = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                web.clients.append(self.client_address[0])
                body = web.token.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _leftovers(made: list[dict], port_ids: list[str]) -> list[str]:
    """What of ``made``'s networks and routers (and the VMs' ports) is still on the host."""
    netns, links = _host("ip", "netns", "list"), _host("ip", "-o", "link")
    chains = _host("iptables-save", "-t", "filter")
    dnsmasq = _host("ps", "-eo", "args")
    left = []
    for ids in made:
        net, router, vni = ids["network"], ids["router"], ids["vni"]
        left += [f"qrouter-{router}"] * (f"qrouter-{router}" in netns)
        left += [f"qdhcp-{net}"] * (f"qdhcp-{net}" in netns)
        left += [f"brq{net[:11]}"] * (f"brq{net[:11]}" in links)
        left += [f"vxlan-{vni}"] * (f"vxlan-{vni}:" in links or f"vxlan-{vni}@" in links)
        left += [f"dnsmasq of {net}"] * (net in dnsmasq)
    for port in port_ids:
        left += [f"chain of port {port}"] * (port[:11] in chains)
        left += [f"tap{port[:11]}"] * (f"tap{port[:11]}" in links)
    return left


def test_self_service_networks_isolated_with_floating_ip_and_security_groups(demo, second, admin, tmp_path):
    key = str(tmp_path / "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    public = admin.json("network", "show", "public")
    assert public["router:external"] is True
    bridge_ip = admin.json("subnet", "show", public["subnets"][0])["gateway_ip"]
    for cli in (demo, second):
        _clean_project(cli)
    made, port_ids = [], []
    web = _Web(bridge_ip)
    try:
        # demo: the guide's network, router, VM, rules and floating IP
        ids = _self_service_network(demo, key)
        made.append(ids)
        segment = admin.json("network", "show", ids["network"])
        assert segment["provider:network_type"] == "vxlan"
        ids["vni"] = segment["provider:segmentation_id"]
        vm_a = _boot(demo, "vm-a", "net-id=" + ids["network"])
        port_ids += [p["ID"] for p in demo.json("port", "list", "--server", vm_a["id"])]
        rule_ids = allow_ping_and_ssh(demo)
        fip = demo.json("floating", "ip", "create", "public")["floating_ip_address"]
        demo.run("server", "add", "floating", "ip", "vm-a", fip)

        _eventually(lambda: _pings(fip), f"ping of floating IP {fip}")
        assert ssh(key, fip, "hostname") == "vm-a"
        assert ssh(key, fip, f"wget -q -O- {web.url}") == web.token
        assert web.clients and all(c == fip for c in web.clients), web.clients  # translated source

        # a second project, same CIDR: its VM and demo's cannot reach each other
        ids2 = _self_service_network(second, key)
        made.append(ids2)
        ids2["vni"] = admin.json("network", "show", ids2["network"])["provider:segmentation_id"]
        assert ids2["vni"] != ids["vni"]
        vm_b = _boot(second, "vm-b", f"net-id={ids2['network']},v4-fixed-ip={VM2_IP}")
        port_ids += [p["ID"] for p in second.json("port", "list", "--server", vm_b["id"])]
        allow_ping_and_ssh(second)
        router_ns = f"qrouter-{ids2['router']}"
        assert ssh(key, VM2_IP, "hostname", netns=router_ns) == "vm-b"  # vm-b answers on its own network
        vm_a_ip = demo.json("server", "show", "vm-a")["addresses"]["demo-net"][0]
        assert vm_a_ip != VM2_IP
        assert ssh(key, fip, f"ping -c2 -W1 {VM2_IP} >/dev/null && echo reached || echo isolated") \
            == "isolated"
        assert ssh(key, VM2_IP, f"ping -c2 -W1 {vm_a_ip} >/dev/null && echo reached || echo isolated",
                   netns=router_ns) == "isolated"
        # vm-b has no floating IP, yet reaches the host through its router's gateway address
        gateway = second.json("router", "show", "demo-router")["external_gateway_info"]
        gw_ip = gateway["external_fixed_ips"][0]["ip_address"]
        assert ssh(key, VM2_IP, f"wget -q -O- {web.url}", netns=router_ns) == web.token
        assert web.clients[-1] == gw_ip

        # the ssh rule is what lets ssh in
        demo.run("security", "group", "rule", "delete", rule_ids[1])
        _eventually(lambda: ssh_try(key, fip, "true").returncode != 0, "ssh refused without the rule",
                    deadline_s=30)
        assert _pings(fip)  # the icmp rule still holds
        allow_ping_and_ssh(demo)
        assert ssh(key, fip, "hostname", deadline_s=30) == "vm-a"
    finally:
        web.close()
        for cli in (demo, second):
            _clean_project(cli)
    end = time.monotonic() + 60  # the agents clean up after the API answers
    while (left := _leftovers(made, port_ids)) and time.monotonic() < end:
        time.sleep(1)
    assert left == []
