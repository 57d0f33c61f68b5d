"""IPv6 address modes in IPAM: EUI-64 addresses on SLAAC / DHCPv6-stateless subnets."""
from __future__ import annotations

import pytest

from kumo.common.api.errors import ApiError
from kumo.network import ipam


def _subnet(sid, cidr, version, auto=False, used=()):
    net = ipam.parse_cidr(cidr, version)
    return ipam.SubnetInfo(id=sid, cidr=cidr, ip_version=version, auto_address=auto,
                           allocation_pools=ipam.default_pools(net, ipam.default_gateway(net)),
                           used=set(used))


def test_eui64_follows_the_mac():
    assert ipam.eui64("2001:db8::/64", "fa:16:3e:12:34:56") == "2001:db8::f816:3eff:fe12:3456"
    assert ipam.eui64("2001:db8:1:2::/64", "00:00:00:00:00:01") == "2001:db8:1:2:200:ff:fe00:1"


def test_default_plan_adds_the_eui64_address_of_every_auto_subnet():
    mac = "fa:16:3e:00:00:07"
    subnets = [_subnet("slaac", "2001:db8::/64", 6, auto=True), _subnet("v4", "10.0.0.0/24", 4),
               _subnet("stateful", "2001:db8:1::/64", 6)]
    assert ipam.plan("n", subnets, None, mac=mac) == [
        ("v4", "10.0.0.2"), ("slaac", "2001:db8::f816:3eff:fe00:7")]
    only_v6 = [_subnet("stateful", "2001:db8:1::/64", 6), _subnet("slaac", "2001:db8::/64", 6, auto=True)]
    assert ipam.plan("n", only_v6, None, mac=mac) == [
        ("stateful", "2001:db8:1::2"), ("slaac", "2001:db8::f816:3eff:fe00:7")]
    assert ipam.plan("n", [_subnet("slaac", "2001:db8::/64", 6, auto=True)], None, mac=mac) == \
        [("slaac", "2001:db8::f816:3eff:fe00:7")]


def test_explicit_subnet_on_auto_subnet_and_collisions():
    mac = "fa:16:3e:00:00:08"
    s = _subnet("slaac", "2001:db8::/64", 6, auto=True)
    assert ipam.plan("n", [s], [{"subnet_id": "slaac"}], mac=mac) == \
        [("slaac", "2001:db8::f816:3eff:fe00:8")]
    taken = _subnet("slaac", "2001:db8::/64", 6, auto=True, used={"2001:db8::f816:3eff:fe00:8"})
    with pytest.raises(ApiError) as e:
        ipam.plan("n", [taken], None, mac=mac)
    assert e.value.status == 409
