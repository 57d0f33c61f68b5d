"""Prefix arithmetic of subnet pools (kumo.network.service.subnetpools): merging, bounds,
carving free blocks, quota units."""
from __future__ import annotations

from ipaddress import ip_network as net

import pytest

from kumo.common.api.errors import BadRequest
from kumo.network.service.subnetpools import (first_free, merge_prefixes, prefix_bounds,
                                              quota_units, subtract)


def test_merge_prefixes_collapses_and_sorts():
    version, merged = merge_prefixes(["10.1.0.0/24", "10.0.0.128/25", "10.0.0.0/25", "10.0.0.0/24"])
    assert version == 4 and [str(n) for n in merged] == ["10.0.0.0/24", "10.1.0.0/24"]
    assert merge_prefixes(["2001:db8::/33", "2001:db8:8000::/33"])[1] == [net("2001:db8::/32")]
    with pytest.raises(BadRequest):
        merge_prefixes(["10.0.0.0/8", "2001:db8::/32"])


@pytest.mark.parametrize("version, body, expected", [
    (4, {}, (8, 32, 8)),
    (6, {}, (64, 128, 64)),
    (4, {"min_prefixlen": 20, "max_prefixlen": 28}, (20, 28, 20)),
    (4, {"min_prefixlen": 20, "default_prefixlen": 24}, (20, 32, 24)),
])
def test_prefix_bounds_defaults(version, body, expected):
    assert prefix_bounds(version, body, None) == expected


@pytest.mark.parametrize("body", [{"max_prefixlen": 33}, {"min_prefixlen": 30, "max_prefixlen": 29},
                                  {"min_prefixlen": 24, "default_prefixlen": 16}])
def test_prefix_bounds_refused(body):
    with pytest.raises(BadRequest):
        prefix_bounds(4, body, None)


def test_subtract_splits_and_drops():
    assert subtract([net("10.0.0.0/24")], net("10.0.0.0/25")) == [net("10.0.0.128/25")]
    assert subtract([net("10.0.0.0/25")], net("10.0.0.0/24")) == []
    assert subtract([net("10.0.1.0/24")], net("10.0.0.0/24")) == [net("10.0.1.0/24")]


def test_first_free_prefers_the_smallest_hole():
    pool = [net("10.0.0.0/22")]
    used = [net("10.0.0.0/24"), net("10.0.1.128/25")]
    # holes: 10.0.1.0/25 and 10.0.2.0/23; a /26 goes in the /25 hole
    assert first_free(pool, used, 26) == net("10.0.1.0/26")
    assert first_free(pool, used, 24) == net("10.0.2.0/24")
    assert first_free(pool, used, 22) is None
    assert first_free([net("10.0.0.0/24")], [net("10.0.0.0/24")], 28) is None


def test_quota_units():
    assert quota_units(net("10.0.0.0/28")) == 16
    assert quota_units(net("2001:db8::/64")) == 1
    assert quota_units(net("2001:db8::/62")) == 4
    assert quota_units(net("2001:db8::/120")) == 1
