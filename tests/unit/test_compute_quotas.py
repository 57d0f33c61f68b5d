"""kumo.compute.quotas: resources per microversion, limit parsing, the over-quota rule and message."""
from __future__ import annotations

import pytest

from kumo.common.api.errors import BadRequest
from kumo.compute import quotas


def test_resources_follow_microversions():
    assert "floating_ips" in quotas.resources((2, 35)) and "floating_ips" not in quotas.resources((2, 36))
    assert "injected_files" in quotas.resources((2, 56)) and "injected_files" not in quotas.resources((2, 57))
    assert {"instances", "cores", "ram", "server_groups"} <= set(quotas.resources((2, 90)))


def test_parse_limits():
    keys = quotas.resources((2, 1))
    assert quotas.parse_limits({"ram": "5120", "cores": -1, "instances": 3.0}, keys) == {
        "ram": 5120, "cores": -1, "instances": 3}
    for bad in ({"ram": -2}, {"ram": "x"}, {"ram": True}, {"ram": 2 ** 31}, {"nope": 1}):
        with pytest.raises(BadRequest):
            quotas.parse_limits(bad, keys)


def test_over_and_message():
    assert quotas.over(10, 10, 1) and not quotas.over(10, 9, 1) and not quotas.over(-1, 10 ** 6, 1)
    err = quotas.exceeded(["cores", "ram"], {"cores": 2, "ram": 512}, {"cores": 20}, {"cores": 20, "ram": 1})
    assert err.status == 403
    assert err.message == "Quota exceeded for cores, ram: Requested 2, but already used 20 of 20 cores"
