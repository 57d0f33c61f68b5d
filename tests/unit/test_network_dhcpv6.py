"""DHCPv6 in the dnsmasq files and command line (stateful addresses, stateless options)."""
from __future__ import annotations

from pathlib import Path

from kumo.network.agents import dnsmasq

V4 = {"id": "s4", "cidr": "10.0.0.0/24", "ip_version": 4, "enable_dhcp": True,
      "gateway_ip": "10.0.0.1", "dns_nameservers": [], "host_routes": []}


def v6(ident: str, mode: str | None, cidr: str, **extra) -> dict:
    return {"id": ident, "cidr": cidr, "ip_version": 6, "enable_dhcp": True, "gateway_ip": None,
            "ipv6_ra_mode": mode, "ipv6_address_mode": mode, "dns_nameservers": [],
            "host_routes": [], **extra}


FULL = v6("full", "dhcpv6-stateful", "2001:db8:1::/64", dns_nameservers=["2001:db8::53"])
OPTS = v6("opts", "dhcpv6-stateless", "2001:db8:2::/64")
SLAAC = v6("slaac", "slaac", "2001:db8:3::/64")
NONE = v6("none", None, "2001:db8:4::/64")
VM = {"id": "vm", "mac_address": "fa:16:3e:00:00:02", "dns_name": "",
      "fixed_ips": [{"subnet_id": "s4", "ip_address": "10.0.0.5"},
                    {"subnet_id": "full", "ip_address": "2001:db8:1::5"},
                    {"subnet_id": "opts", "ip_address": "2001:db8:2::f816:3eff:fe00:2"},
                    {"subnet_id": "slaac", "ip_address": "2001:db8:3::f816:3eff:fe00:2"}]}


def test_dhcpv6_subnets_are_served_slaac_and_plain_ones_are_not():
    assert [s["id"] for s in dnsmasq.dhcp_subnets([V4, FULL, OPTS, SLAAC, NONE])] == \
        ["s4", "full", "opts"]
    assert [s["id"] for s in dnsmasq.dhcp_subnets([dict(FULL, enable_dhcp=False)])] == []


def test_only_stateful_addresses_are_in_the_hosts_file():
    lines = dnsmasq.hosts_lines([VM], [V4, FULL, OPTS, SLAAC])
    assert lines == ["fa:16:3e:00:00:02,host-10-0-0-5,10.0.0.5",
                     "fa:16:3e:00:00:02,host-2001-db8-1--5,[2001:db8:1::5]"]
    assert dnsmasq.host_entries(lines) == {("fa:16:3e:00:00:02", "10.0.0.5"),
                                           ("fa:16:3e:00:00:02", "2001:db8:1::5")}


def test_ipv6_subnets_get_dns_servers_only():
    lines = dnsmasq.opts_lines([FULL, OPTS], None, [])
    assert lines == ["tag:subnet-full,option6:dns-server,[2001:db8::53]"]


def test_ranges_are_static_with_prefix_lengths():
    argv = dnsmasq.argv(Path("/s/n"), "ns-x", [V4, FULL, OPTS, SLAAC], mtu=1450,
                        lease_seconds=600, dns_domain="openstacklocal")
    ranges = [a for a in argv if a.startswith("--dhcp-range=")]
    assert ranges == ["--dhcp-range=set:subnet-s4,10.0.0.0,static,255.255.255.0,600s",
                      "--dhcp-range=set:subnet-full,2001:db8:1::,static,64,600s",
                      "--dhcp-range=set:subnet-opts,2001:db8:2::,static,64,600s"]
    assert not [a for a in argv if a.startswith("--enable-ra")]  # RAs are radvd's
    assert "--dhcp-lease-max=16777216" in argv
