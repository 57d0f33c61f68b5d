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


# --- layer 2 anti-spoofing (nft bridge table) --------------------------------------------

def test_arp_ruleset_limits_macs_and_arp_senders_per_tap():
    from kumo.network.agents.firewall_arp import arp_ruleset
    port = dict(PORT, allowed_address_pairs=[{"ip_address": "10.0.0.64/27"},
                                             {"ip_address": "10.0.0.100", "mac_address": "FA:16:3E:AA:BB:CC"}])
    off = dict(PORT, id="fedcba9876543210", port_security_enabled=False)
    bad = dict(PORT, id="badbadbadbad0000", mac_address="not-a-mac", allowed_address_pairs=[])
    text = arp_ruleset("kumo", [port, off, bad])
    assert text.startswith("table bridge kumo\ndelete table bridge kumo\ntable bridge kumo {")
    assert "type filter hook prerouting priority filter; policy accept;" in text
    assert 'iifname vmap { "tap0123456789a" : jump m0123456789a, "tapbadbadbadba" : jump mbadbadbadba }' \
        in text
    assert "fedcba98765" not in text  # port security off: exempt
    chain = text.split("chain m0123456789a {")[1].split("}\n  }")[0]
    assert "ether saddr != { fa:16:3e:11:22:33, fa:16:3e:aa:bb:cc } drop" in chain
    assert "arp saddr ether != { fa:16:3e:11:22:33, fa:16:3e:aa:bb:cc } drop" in chain
    # fixed IPv4 address, the pairs (a CIDR too), the RFC 5227 probe; no IPv6
    assert "arp saddr ip != { 10.0.0.5, 10.0.0.64/27, 10.0.0.100, 0.0.0.0 } drop" in chain
    assert "2001:db8" not in text
    # a port whose MAC does not parse sends nothing
    assert text.split("chain mbadbadbadba {")[1].split("}")[0].split() == ["drop"]
    assert "vmap" not in arp_ruleset("kt1-", [off])


# --- conntrack zones and cutting removed rules' connections --------------------------------

def test_zones_are_kept_from_the_rules_and_allocated_lowest_free():
    from kumo.network.agents.firewall_conntrack import allocate_zones, raw_ruleset, zones_from_save
    raw = raw_ruleset("kumo-", {"brqa": 1, "br-ex": 3})
    assert "-A kumo-PREROUTING -i br-ex -j CT --zone 3" in raw.splitlines()
    assert "-A kumo-OUTPUT -o brqa -j CT --zone 1" in raw.splitlines()
    assert raw.startswith("*raw\n:kumo-PREROUTING - [0:0]\n:kumo-OUTPUT - [0:0]\n")
    current = zones_from_save(raw + "-A PREROUTING -j kumo-PREROUTING\n", "kumo-")
    assert current == {"brqa": 1, "br-ex": 3}
    assert zones_from_save(raw, "other-") == {}
    # brqa keeps 1, brqb takes the free 2, br-ex keeps 3, brqc gets 4; a gone bridge frees its number
    assert allocate_zones(["brqc", "brqb", "brqa", "br-ex"], current) == \
        {"brqa": 1, "brqb": 2, "br-ex": 3, "brqc": 4}
    assert allocate_zones(["brqb"], current) == {"brqb": 1}
    assert allocate_zones(["x"], {}, first=65535) == {"x": 65535}
    try:
        allocate_zones(["x", "y"], {}, first=65535)
    except ValueError:
        pass
    else:
        raise AssertionError("zone space is 16 bits")


CONNTRACK_LIST = """\
tcp      6 431999 ESTABLISHED src=192.0.2.9 dst=10.0.0.5 sport=40022 dport=22 src=10.0.0.5 dst=192.0.2.9 sport=22 dport=40022 [ASSURED] mark=0 zone=7 use=1
tcp      6 431999 ESTABLISHED src=198.51.100.1 dst=10.0.0.5 sport=40023 dport=22 src=10.0.0.5 dst=198.51.100.1 sport=22 dport=40023 [ASSURED] mark=0 zone=7 use=1
tcp      6 431999 ESTABLISHED src=192.0.2.9 dst=10.0.0.5 sport=40024 dport=80 src=10.0.0.5 dst=192.0.2.9 sport=80 dport=40024 [ASSURED] mark=0 zone=7 use=1
icmp     1 29 src=192.0.2.9 dst=10.0.0.5 type=8 code=0 id=77 src=10.0.0.5 dst=192.0.2.9 type=0 code=0 id=77 mark=0 zone=7 use=1
"""


def test_conntrack_entries_and_allows():
    from kumo.network.agents.firewall_conntrack import allows, parse_entries
    entries = parse_entries(CONNTRACK_LIST + "conntrack v1.4.7 (conntrack-tools): 4 flow entries\n")
    assert len(entries) == 4
    assert entries[0] == {"proto": 6, "src": "192.0.2.9", "dst": "10.0.0.5", "sport": 40022,
                          "dport": 22}
    assert entries[3]["type"] == 8 and entries[3]["id"] == 77
    ssh_from = allows([rule("ingress", protocol="tcp", port_range_min=20, port_range_max=25,
                            remote_ip_prefix="192.0.2.0/24")], {})
    [a] = ssh_from
    assert [a.matches(e) for e in entries] == [True, False, False, False]
    [ping] = allows([rule("ingress", protocol="icmp", port_range_min=8)], {})
    assert [ping.matches(e) for e in entries] == [False, False, False, True]
    group = allows([rule("ingress", remote_group_id="g"), rule("ingress", "IPv6", remote_group_id="g")],
                   {"g": ["198.51.100.1", "2001:db8::1"]})
    assert {(x.version, x.remote) for x in group} == {(4, "198.51.100.1"), (6, "2001:db8::1")}
    assert [any(x.matches(e) for x in group) for e in entries] == [False, True, False, False]
    [odd] = allows([rule("ingress", protocol="gre")], {})
    assert not odd.matches(entries[0]) and odd.matches(entries[0], unknown=True)


async def test_cut_removed_deletes_only_what_no_remaining_rule_allows(monkeypatch):
    from kumo.network.agents import firewall_conntrack as ct
    calls = []

    async def fake_run(*cmd, **kw):
        calls.append(cmd)
        return CONNTRACK_LIST if "-L" in cmd else ""
    monkeypatch.setattr(ct, "run", fake_run)
    ssh = rule("ingress", protocol="tcp", port_range_min=22, port_range_max=22)
    web = rule("ingress", protocol="tcp", port_range_min=80, port_range_max=80)
    from_one = rule("ingress", remote_ip_prefix="198.51.100.1/32")
    old = ct.allows([ssh, web, from_one], {})
    new = ct.allows([web, from_one], {})  # ssh removed; 198.51.100.1 may still do anything
    assert await ct.cut_removed(7, ["10.0.0.5", "2001:db8::5"], old, new) == 1
    assert calls[0] == ("conntrack", "-f", "ipv4", "-w", "7", "-L", "--orig-dst", "10.0.0.5")
    assert calls[1] == ("conntrack", "-f", "ipv4", "-w", "7", "-D", "-p", "6", "--orig-src", "192.0.2.9",
                        "--orig-dst", "10.0.0.5", "--sport", "40022", "--dport", "22")
    assert len(calls) == 2  # nothing for IPv6 (no IPv6 rule went) nor for egress
    calls.clear()
    assert await ct.cut_removed(7, ["10.0.0.5"], new, new) == 0 and calls == []


# --- the whole apply against a fake host -----------------------------------------------------

class FakeHost:
    """iptables-save shows the last restore input (plus the hooks inserted); nft and conntrack
    succeed; a restore input containing one of ``refuse`` fails."""

    def __init__(self, refuse=()):
        self.calls, self.refuse = [], refuse
        self.state = {4: "", 6: ""}
        self.hooks = {4: [], 6: []}

    async def run(self, *cmd, input=None, **kw):
        from kumo.common.host.process import HostError
        self.calls.append(cmd)
        v = 6 if cmd[0].startswith("ip6") else 4
        if cmd[0].endswith("-save"):
            return self.state[v] + "".join(f"*{t}\n-A {b} -j {c}\nCOMMIT\n" for t, b, c in self.hooks[v])
        if cmd[0].endswith("-restore"):
            text = input.decode()
            if any(r in text for r in self.refuse):
                raise HostError(list(cmd), 2, "refused")
            if "--test" not in cmd and "\n-X " not in text:
                self.state[v] = text
        elif cmd[0] in ("iptables", "ip6tables") and "-I" in cmd:
            self.hooks[v].append((cmd[cmd.index("-t") + 1], cmd[cmd.index("-I") + 1], cmd[-1]))
        return ""

    def restores(self):
        return [c for c in self.calls if c[0].endswith("-restore")]


def _fake(monkeypatch, host):
    from kumo.network.agents import firewall, firewall_arp, firewall_conntrack
    for mod in (firewall, firewall_arp, firewall_conntrack):
        monkeypatch.setattr(mod, "run", host.run)


async def test_apply_is_skipped_when_nothing_changed_and_redone_when_tampered(monkeypatch):
    host = FakeHost()
    _fake(monkeypatch, host)
    fw = Firewall("kumo-")
    filters = [PortFilter(dict(PORT), [rule("ingress", protocol="icmp")], bridge="brqnet1")]
    await fw.apply(filters)
    assert len(host.restores()) == 2 and len(host.hooks[4]) == 4 and len(host.hooks[6]) == 4
    assert "-A kumo-PREROUTING -i brqnet1 -j CT --zone 1" in host.state[4]
    assert any(c[:2] == ("nft", "-f") for c in host.calls)
    host.calls.clear()
    await fw.apply(filters)
    assert host.restores() == []  # unchanged: no rewrite
    host.state[4] = host.state[4].replace("-A kumo-sg-fallback -j DROP\n", "")  # someone flushed it
    await fw.apply(filters)
    assert len(host.restores()) == 1 and "-A kumo-sg-fallback -j DROP" in host.state[4]
    filters[0].rules.append(rule("ingress", protocol="tcp"))  # an IPv4 rule: IPv4 rewritten only
    host.calls.clear()
    await fw.apply(filters)
    assert [c[0] for c in host.restores()] == ["iptables-restore"]
    assert "-A kumo-i0123456789a -p tcp -j RETURN" in host.state[4]


async def test_a_port_iptables_refuses_fails_closed_and_the_others_keep_their_rules(monkeypatch):
    host = FakeHost(refuse=("-p no-such-protocol",))
    _fake(monkeypatch, host)
    fw = Firewall("kumo-")
    good = PortFilter(dict(PORT), [rule("ingress", protocol="icmp")])
    bad = PortFilter(dict(PORT, id="badbadbadbad0000"), [rule("ingress", protocol="no-such-protocol")])
    await fw.apply([good, bad])
    assert fw.broken == {"badbadbadbad0000"}
    assert lines(host.state[4], "kumo-ibadbadbadba") == ["-A kumo-ibadbadbadba -j DROP"]
    assert lines(host.state[4], "kumo-obadbadbadba") == ["-A kumo-obadbadbadba -j DROP"]
    assert "-A kumo-i0123456789a -p icmp -j RETURN" in host.state[4]
    # Fixed: the port gets its rules back.
    bad.rules = [rule("ingress", protocol="tcp")]
    await fw.apply([good, bad])
    assert fw.broken == set() and "-A kumo-ibadbadbadba -p tcp -j RETURN" in host.state[4]
    # Something else wrong with the input: nothing applied, the error goes up.
    host.refuse = ("-A kumo-sg-chain -j ACCEPT",)
    good.rules = []
    try:
        await fw.apply([good])
    except Exception as e:
        assert type(e).__name__ == "HostError"
    else:
        raise AssertionError("expected HostError")
    assert "kumo-ibadbadbadba" in host.state[4]  # the previous rules stay
