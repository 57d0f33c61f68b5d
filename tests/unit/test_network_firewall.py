"""The L2 agent's iptables rulesets, built from Networking API port and rule dicts (no host)."""
from __future__ import annotations

from kumo.network.agents.firewall import Firewall, PortFilter
from kumo.network.agents.l2 import device_name
from kumo.network.service.segments import parse_ranges, type_mtu

PORT = {"id": "0123456789abcdef", "mac_address": "fa:16:3e:11:22:33",
        "fixed_ips": [{"ip_address": "10.0.0.5"}, {"ip_address": "2001:db8::5"}],
        "allowed_address_pairs": [{"ip_address": "10.0.0.100", "mac_address": "fa:16:3e:aa:bb:cc"}],
        "port_security_enabled": True}


def rule(direction, ethertype="IPv4", **kw):
    return {"direction": direction, "ethertype": ethertype, "protocol": None, "port_range_min": None,
            "port_range_max": None, "remote_ip_prefix": None, "remote_group_id": None, **kw}


def lines(text, chain):
    return [x for x in text.splitlines() if x.startswith(f"-A {chain} ")]


def test_rules_become_returns_in_the_port_chains():
    pf = PortFilter(dict(PORT), [
        rule("ingress", protocol="tcp", port_range_min=22, port_range_max=22),
        rule("ingress", protocol="udp", port_range_min=1000, port_range_max=2000,
             remote_ip_prefix="192.0.2.0/24"),
        rule("ingress", "IPv6", protocol="icmp"),
        rule("ingress", protocol="icmp", port_range_min=8, port_range_max=0),
        rule("ingress", remote_group_id="g1"),
        rule("egress")], {"g1": ["10.0.0.7", "2001:db8::7"]})
    v4 = Firewall("kumo-").ruleset([pf], 4)
    ingress = lines(v4, "kumo-i0123456789a")
    assert "-A kumo-i0123456789a -p tcp -m tcp --dport 22 -j RETURN" in ingress
    assert "-A kumo-i0123456789a -s 192.0.2.0/24 -p udp -m udp --dport 1000:2000 -j RETURN" in ingress
    assert "-A kumo-i0123456789a -p icmp --icmp-type 8/0 -j RETURN" in ingress
    assert "-A kumo-i0123456789a -s 10.0.0.7 -j RETURN" in ingress
    assert not any("2001:db8" in x for x in ingress)
    assert ingress[0].endswith("--ctstate RELATED,ESTABLISHED -j RETURN")
    assert ingress[-1] == "-A kumo-i0123456789a -j kumo-sg-fallback"
    spoof = lines(v4, "kumo-s0123456789a")
    assert spoof == ["-A kumo-s0123456789a -s 10.0.0.5 -m mac --mac-source fa:16:3e:11:22:33 -j RETURN",
                     "-A kumo-s0123456789a -s 10.0.0.100 -m mac --mac-source fa:16:3e:aa:bb:cc -j RETURN",
                     "-A kumo-s0123456789a -j DROP"]
    egress = lines(v4, "kumo-o0123456789a")
    assert "-A kumo-o0123456789a -p udp -m udp --sport 67 --dport 68 -j DROP" in egress
    assert "-A kumo-o0123456789a -j RETURN" in egress
    v6 = Firewall("kumo-").ruleset([pf], 6)
    assert "-A kumo-i0123456789a -p ipv6-icmp -j RETURN" in lines(v6, "kumo-i0123456789a")
    assert not any("2001:db8::7" in x for x in v6.splitlines())  # that rule is IPv4 only
    # The EUI-64 link-local address of the MAC may be used as a source.
    assert any("-s fe80::f816:3eff:fe11:2233 " in x for x in lines(v6, "kumo-s0123456789a"))
    assert "-A kumo-o0123456789a -j RETURN" not in lines(v6, "kumo-o0123456789a")  # no IPv6 egress rule


def test_hooks_and_unfiltered_ports():
    off = PortFilter(dict(PORT, id="fedcba9876543210", port_security_enabled=False), [])
    on = PortFilter(dict(PORT), [])
    text = Firewall("kx-").ruleset([on, off], 4)
    assert "-A kx-FORWARD -m physdev --physdev-out tap0123456789a --physdev-is-bridged -j kx-sg-chain" \
        in text
    assert "-A kx-INPUT -m physdev --physdev-in tap0123456789a --physdev-is-bridged -j kx-o0123456789a" \
        in text
    assert "fedcba98765" not in text
    assert lines(text, "kx-sg-chain")[-1] == "-A kx-sg-chain -j ACCEPT"
    assert text.startswith("*filter\n:kx-FORWARD - [0:0]") and text.endswith("COMMIT\n")


def test_ranges_mtu_and_device_names():
    assert parse_ranges(["1:1000", "2000:2001"], False) == [("", 1, 1000), ("", 2000, 2001)]
    assert parse_ranges(["data:10:20", "public"], True) == [("data", 10, 20), ("public", 0, -1)]
    for bad in (["5:1"], ["x"], ["1:2:3"]):
        try:
            parse_ranges(bad, False)
        except ValueError:
            continue
        raise AssertionError(bad)
    assert (type_mtu("vxlan"), type_mtu("vlan"), type_mtu("flat")) == (1450, 1500, 1500)
    assert device_name({"id": "0123456789abcdef", "device_owner": "compute:nova"}) == "tap0123456789a"
    assert device_name({"id": "0123456789abcdef",
                        "device_owner": "network:router_interface"}) == "tap0123456789a"
