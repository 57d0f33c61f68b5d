"""Application credential access rules as every API checks them (kumo.common.auth.access_rules)."""
from __future__ import annotations

from kumo.common.auth.access_rules import allowed


def body(*rules) -> dict:
    return {"token": {"application_credential": {"id": "c", "access_rules": list(rules)}}}


def test_tokens_without_rules_are_not_limited():
    assert allowed({"token": {}}, "nova", "DELETE", "/v2.1/servers/x")
    assert allowed({"token": {"application_credential": {"id": "c"}}}, "nova", "DELETE", "/v2.1/servers/x")


def test_service_method_and_path_glob_must_match():
    ips = body({"service": "compute", "method": "GET", "path": "/v2.1/servers/*/ips"})
    assert allowed(ips, "nova", "GET", "/v2.1/servers/abc/ips")
    assert allowed(ips, "nova", "GET", "/v2.1/servers/abc/ips/")
    assert not allowed(ips, "nova", "GET", "/v2.1/servers/abc/def/ips")  # * stays in one segment
    assert not allowed(ips, "nova", "DELETE", "/v2.1/servers/abc/ips")
    assert not allowed(ips, "neutron", "GET", "/v2.1/servers/abc/ips")
    assert not allowed(ips, "nova", "GET", "/v2.1/servers")
    deep = body({"service": "image", "method": "GET", "path": "/v2/images/**"},
                {"service": "network", "method": "POST", "path": "/v2.0/ports"})
    assert allowed(deep, "glance", "GET", "/v2/images/a/file")
    assert allowed(deep, "neutron", "POST", "/v2.0/ports")
    assert not allowed(deep, "neutron", "POST", "/v2.0/networks")
    assert not allowed(body({"service": "compute", "method": "GET", "path": "/v2.1/servers.+"}),
                       "nova", "GET", "/v2.1/serversXX")  # regex characters are literal
