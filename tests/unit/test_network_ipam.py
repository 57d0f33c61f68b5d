"""IPAM: subnet geometry checks and address planning (pure functions)."""
from __future__ import annotations

import ipaddress

import pytest

from kumo.common.api.errors import ApiError
from kumo.network import ipam


def kind(exc: pytest.ExceptionInfo) -> tuple[int, str]:
    return exc.value.status, exc.value.kind


def test_parse_cidr():
    assert str(ipam.parse_cidr("10.0.0.0/24", 4)) == "10.0.0.0/24"
    assert str(ipam.parse_cidr("fd00::/64", None)) == "fd00::/64"
    for bad in ("10.0.0.0/33", "x", "10.0.0.0", 5, "10.0.0.0/31"):
        with pytest.raises(ApiError) as e:
            ipam.parse_cidr(bad, 4)
        assert e.value.status == 400
    with pytest.raises(ApiError) as e:
        ipam.parse_cidr("10.0.0.7/24", 4)
    assert "'10.0.0.0/24' should be specified instead" in e.value.message
    with pytest.raises(ApiError) as e:
        ipam.parse_cidr("10.0.0.0/24", 6)
    assert kind(e) == (400, "InvalidInput")


def test_default_gateway_and_pools():
    net = ipaddress.ip_network("10.0.0.0/24")
    assert ipam.default_gateway(net) == "10.0.0.1"
    assert ipam.default_pools(net, "10.0.0.1") == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert ipam.default_pools(net, None) == [{"start": "10.0.0.1", "end": "10.0.0.254"}]
    assert ipam.default_pools(net, "10.0.0.254") == [{"start": "10.0.0.1", "end": "10.0.0.253"}]
    assert ipam.default_pools(net, "10.0.0.100") == [{"start": "10.0.0.1", "end": "10.0.0.99"},
                                                     {"start": "10.0.0.101", "end": "10.0.0.254"}]
    v6 = ipaddress.ip_network("fd00::/126")
    assert ipam.default_pools(v6, "fd00::1") == [{"start": "fd00::2", "end": "fd00::3"}]


def test_check_gateway():
    net = ipaddress.ip_network("10.0.0.0/24")
    assert ipam.check_gateway(net, None) is None
    assert ipam.check_gateway(net, "10.0.0.254") == "10.0.0.254"
    for bad in ("10.0.0.0", "10.0.0.255", "10.0.1.1", "fd00::1", "nope"):
        with pytest.raises(ApiError) as e:
            ipam.check_gateway(net, bad)
        assert e.value.status == 400, bad


def test_check_pools():
    net = ipaddress.ip_network("10.0.0.0/24")
    pools = ipam.check_pools(net, [{"start": "10.0.0.50", "end": "10.0.0.60"},
                                   {"start": "10.0.0.10", "end": "10.0.0.10"}], "10.0.0.1")
    assert pools == [{"start": "10.0.0.10", "end": "10.0.0.10"},
                     {"start": "10.0.0.50", "end": "10.0.0.60"}]
    cases = [
        ([{"start": "10.0.0.0", "end": "10.0.0.5"}], (400, "OutOfBoundsAllocationPool")),
        ([{"start": "10.0.0.250", "end": "10.0.0.255"}], (400, "OutOfBoundsAllocationPool")),
        ([{"start": "10.0.0.9", "end": "10.0.0.2"}], (400, "InvalidAllocationPool")),
        ([{"start": "10.0.0.2", "end": "10.0.0.9"}, {"start": "10.0.0.5", "end": "10.0.0.6"}],
         (409, "OverlappingAllocationPools")),
        ([{"start": "10.0.0.1", "end": "10.0.0.9"}], (409, "GatewayConflictWithAllocationPools")),
        ([{"start": "10.0.0.2"}], (400, "HTTPBadRequest")),
        ("10.0.0.2-10.0.0.9", (400, "HTTPBadRequest")),
    ]
    for pools, expected in cases:
        with pytest.raises(ApiError) as e:
            ipam.check_pools(net, pools, "10.0.0.1")
        assert kind(e) == expected, pools


def test_first_free():
    pools = [{"start": "10.0.0.10", "end": "10.0.0.12"}, {"start": "10.0.0.2", "end": "10.0.0.3"}]
    assert ipam.first_free(pools, set()) == "10.0.0.10"
    assert ipam.first_free(pools, {"10.0.0.10", "10.0.0.11"}) == "10.0.0.12"
    assert ipam.first_free(pools, {"10.0.0.10", "10.0.0.11", "10.0.0.12"}) == "10.0.0.2"
    assert ipam.first_free(pools, {"10.0.0.11"}) == "10.0.0.10"
    assert ipam.first_free(pools, {"10.0.0.2", "10.0.0.3", "10.0.0.10", "10.0.0.11",
                                   "10.0.0.12", "10.0.0.99"}) is None
    big = [{"start": "fd00::2", "end": "fd00::ffff:ffff:ffff:ffff"}]
    assert ipam.first_free(big, {"fd00::2", "fd00::3"}) == "fd00::4"


def _subnets():
    return [ipam.SubnetInfo("s6", "fd00::/64", 6, [{"start": "fd00::2", "end": "fd00::9"}]),
            ipam.SubnetInfo("a", "10.0.0.0/29", 4, [{"start": "10.0.0.2", "end": "10.0.0.3"}]),
            ipam.SubnetInfo("b", "10.1.0.0/24", 4, [{"start": "10.1.0.2", "end": "10.1.0.254"}])]


def test_plan_default_prefers_the_first_ipv4_subnet_with_room():
    subs = _subnets()
    assert ipam.plan("n", subs, None) == [("a", "10.0.0.2")]
    subs[1].used = {"10.0.0.2", "10.0.0.3"}
    assert ipam.plan("n", subs, None) == [("b", "10.1.0.2")]
    only_v6 = [_subnets()[0]]
    assert ipam.plan("n", only_v6, None) == [("s6", "fd00::2")]
    assert ipam.plan("n", [], None) == []
    full = [ipam.SubnetInfo("a", "10.0.0.0/29", 4, [{"start": "10.0.0.2", "end": "10.0.0.2"}],
                            {"10.0.0.2"})]
    with pytest.raises(ApiError) as e:
        ipam.plan("n", full, None)
    assert kind(e) == (409, "IpAddressGenerationFailure")


def test_plan_requested_entries():
    subs = _subnets()
    subs[2].used = {"10.1.0.50"}
    out = ipam.plan("n", subs, [{"subnet_id": "b"}, {"ip_address": "10.1.0.60"},
                                {"subnet_id": "a", "ip_address": "10.0.0.6"}])
    assert out == [("b", "10.1.0.2"), ("b", "10.1.0.60"), ("a", "10.0.0.6")]
    cases = [
        ([{"ip_address": "10.1.0.50"}], (409, "IpAddressAlreadyAllocated")),
        ([{"ip_address": "10.1.0.70"}, {"ip_address": "10.1.0.70"}], (409, "IpAddressAlreadyAllocated")),
        ([{"subnet_id": "zzz"}], (400, "InvalidInput")),
        ([{"ip_address": "192.168.0.1"}], (400, "InvalidInput")),
        ([{"subnet_id": "a", "ip_address": "10.1.0.9"}], (400, "InvalidIpForSubnet")),
        ([{"subnet_id": "a", "ip_address": "10.0.0.7"}], (400, "InvalidIpForSubnet")),
    ]
    for requested, expected in cases:
        with pytest.raises(ApiError) as e:
            ipam.plan("n", _subnets() if expected[0] == 400 else subs, requested)
        assert kind(e) == expected, requested


def test_plan_keeps_current_addresses():
    subs = _subnets()
    keep = [("b", "10.1.0.9"), ("a", "10.0.0.2")]
    assert ipam.plan("n", subs, [{"subnet_id": "b"}], keep) == [("b", "10.1.0.9")]
    assert ipam.plan("n", _subnets(), [{"ip_address": "10.0.0.2"}, {"subnet_id": "b"}], keep) == \
        [("a", "10.0.0.2"), ("b", "10.1.0.9")]
    assert ipam.plan("n", _subnets(), [{"subnet_id": "b"}, {"subnet_id": "b"}], keep) == \
        [("b", "10.1.0.9"), ("b", "10.1.0.2")]
