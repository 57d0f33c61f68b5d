"""dnsmasq files and command line for one network (pure rendering)."""
from __future__ import annotations

from pathlib import Path

from kumo.network.agents import dnsmasq

S1 = {"id": "s1", "cidr": "10.0.0.0/24", "ip_version": 4, "enable_dhcp": True,
      "gateway_ip": "10.0.0.1", "dns_nameservers": ["8.8.8.8", "1.1.1.1"], "host_routes": []}
S2 = {"id": "s2", "cidr": "10.1.0.0/24", "ip_version": 4, "enable_dhcp": True,
      "gateway_ip": None, "dns_nameservers": [],
      "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.1.0.254"}]}
OFF = {"id": "s3", "cidr": "10.2.0.0/24", "ip_version": 4, "enable_dhcp": False,
       "gateway_ip": "10.2.0.1", "dns_nameservers": [], "host_routes": []}
V6 = {"id": "s6", "cidr": "fd00::/64", "ip_version": 6, "enable_dhcp": True, "gateway_ip": "fd00::1",
      "dns_nameservers": [], "host_routes": []}
DHCP_PORT = {"id": "d", "mac_address": "fa:16:3e:00:00:01", "dns_name": "",
             "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.2"},
                           {"subnet_id": "s2", "ip_address": "10.1.0.2"}]}
VM = {"id": "vm", "mac_address": "fa:16:3e:00:00:02", "dns_name": "web",
      "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.5"},
                    {"subnet_id": "s3", "ip_address": "10.2.0.5"}],
      "extra_dhcp_opts": [{"opt_name": "bootfile-name", "opt_value": "pxe.0", "ip_version": 4},
                          {"opt_name": "150", "opt_value": "10.0.0.9", "ip_version": 4},
                          {"opt_name": "x6", "opt_value": "y", "ip_version": 6}]}
PLAIN = {"id": "pl", "mac_address": "fa:16:3e:00:00:03", "dns_name": "",
         "fixed_ips": [{"subnet_id": "s2", "ip_address": "10.1.0.7"}]}


def test_served_subnets_are_ipv4_with_dhcp():
    assert [s["id"] for s in dnsmasq.dhcp_subnets([S1, OFF, V6, S2])] == ["s1", "s2"]


def test_hosts_file():
    lines = dnsmasq.hosts_lines([VM, PLAIN, DHCP_PORT], [S1, S2, OFF, V6])
    assert lines == [
        "fa:16:3e:00:00:01,host-10-0-0-2,10.0.0.2",
        "fa:16:3e:00:00:01,host-10-1-0-2,10.1.0.2",
        "fa:16:3e:00:00:03,host-10-1-0-7,10.1.0.7",
        "fa:16:3e:00:00:02,web,10.0.0.5,set:port-vm",   # 10.2.0.5 is in a subnet without DHCP
    ]


def test_opts_file():
    lines = dnsmasq.opts_lines([S1, S2, OFF], DHCP_PORT, [VM, PLAIN])
    assert lines == [
        "tag:subnet-s1,option:dns-server,8.8.8.8,1.1.1.1",
        "tag:subnet-s1,option:classless-static-route,169.254.169.254/32,10.0.0.2,"
        "10.1.0.0/24,0.0.0.0,10.2.0.0/24,0.0.0.0,0.0.0.0/0,10.0.0.1",
        "tag:subnet-s1,option:router,10.0.0.1",
        "tag:subnet-s2,option:classless-static-route,169.254.169.254/32,10.1.0.2,"
        "10.0.0.0/24,0.0.0.0,10.2.0.0/24,0.0.0.0,192.168.0.0/16,10.1.0.254",
        "tag:subnet-s2,option:router",  # no gateway: dnsmasq must not offer itself
        "tag:port-vm,option:bootfile-name,pxe.0",
        "tag:port-vm,150,10.0.0.9",
    ]


def test_host_route_default_replaces_the_gateway_route():
    subnet = dict(S1, dns_nameservers=[],
                  host_routes=[{"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"}])
    [route, router] = dnsmasq.opts_lines([subnet], DHCP_PORT, [])
    assert route == "tag:subnet-s1,option:classless-static-route,169.254.169.254/32,10.0.0.2," \
                    "0.0.0.0/0,10.0.0.254"
    assert router == "tag:subnet-s1,option:router,10.0.0.1"


def test_command_line():
    conf = Path("/state/dhcp/net1")
    argv = dnsmasq.argv(conf, "ns-abc", [S1, OFF, S2], mtu=1450, lease_seconds=600,
                        dns_domain="openstacklocal")
    assert argv[0] == dnsmasq.DNSMASQ
    for arg in ("--no-hosts", "--no-resolv", "--port=0", "--interface=ns-abc", "--bind-interfaces",
                "--pid-file=/state/dhcp/net1/pid", "--dhcp-hostsfile=/state/dhcp/net1/host",
                "--dhcp-optsfile=/state/dhcp/net1/opts", "--dhcp-leasefile=/state/dhcp/net1/leases",
                "--log-facility=/state/dhcp/net1/dhcp.log",
                "--dhcp-range=set:subnet-s1,10.0.0.0,static,255.255.255.0,600s",
                "--dhcp-range=set:subnet-s2,10.1.0.0,static,255.255.255.0,600s",
                "--dhcp-option-force=option:mtu,1450", "--dhcp-lease-max=512"):
        assert arg in argv, arg
    assert not any("subnet-s3" in a for a in argv)


def test_write_file_reports_changes(tmp_path):
    path = tmp_path / "host"
    assert dnsmasq.write_file(path, ["a", "b"]) is True
    assert path.read_text() == "a\nb\n"
    assert dnsmasq.write_file(path, ["a", "b"]) is False
    assert dnsmasq.write_file(path, []) is True and path.read_text() == ""


def test_state_round_trip(tmp_path):
    assert dnsmasq.read_state(tmp_path / "x") == {}
    dnsmasq.write_state(tmp_path / "x", {"tap": "tap1"})
    assert dnsmasq.read_state(tmp_path / "x") == {"tap": "tap1"}


def test_no_process_for_a_missing_or_foreign_pid_file(tmp_path):
    conf = tmp_path / "net"
    conf.mkdir()
    assert dnsmasq.pid_of(conf) is None
    (conf / "pid").write_text("1\n")  # pid 1 is not our dnsmasq
    assert dnsmasq.pid_of(conf) is None
    assert dnsmasq.running(tmp_path) == {}


def test_removed_ports_leases_are_pruned(tmp_path):
    hosts = ["fa:16:3e:00:00:01,host-10-0-0-5,10.0.0.5", "fa:16:3e:00:00:02,host-10-0-0-6,10.0.0.6"]
    assert dnsmasq.host_entries(hosts) == {("fa:16:3e:00:00:01", "10.0.0.5"), ("fa:16:3e:00:00:02", "10.0.0.6")}
    leases = tmp_path / "leases"
    leases.write_text("1 fa:16:3e:00:00:01 10.0.0.5 h1 *\n1 fa:16:3e:00:00:09 10.0.0.6 old *\n")
    dnsmasq.prune_leases(leases, dnsmasq.host_entries(hosts))
    assert leases.read_text() == "1 fa:16:3e:00:00:01 10.0.0.5 h1 *\n"
    assert dnsmasq.release_argv("ns-x", "10.0.0.6", "fa:16:3e:00:00:09")[1:] == ["ns-x", "10.0.0.6", "fa:16:3e:00:00:09"]
