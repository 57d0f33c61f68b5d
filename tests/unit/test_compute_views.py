"""kumo.compute.api.views: server body fields that depend on the microversion and the request."""
from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from starlette.requests import Request

from kumo.compute.api.views import server_detail


def request(method: str, version: tuple[int, int]) -> Request:
    return Request({"type": "http", "method": method, "path": "/v2.1/servers/x", "headers": [
        (b"host", b"cloud:8774")], "query_string": b"", "scheme": "http",
        "state": {"api_version": version}})


def instance(**kw):
    values = dict(
        uuid="u1", id=1, display_name="vm", display_description=None, project_id="p", user_id="u",
        meta={}, host="h1", node="n1", image_ref="img", created_at=datetime(2026, 1, 1),
        updated_at=datetime(2026, 1, 1), network_info=[], requested_networks=[], access_ip_v4=None,
        access_ip_v6=None, vm_state="active", task_state=None, power_state=1, progress=0,
        availability_zone="nova", config_drive=False, key_name="k1", launched_at=None,
        terminated_at=None, security_groups=[], reservation_id="r-1", launch_index=0, hostname="vm",
        root_device_name=None, user_data="dXNlcg==", tags=["a"], locked=True, locked_reason="why",
        auto_disk_config=None, flavor={"id": "1", "name": "tiny", "vcpus": 1, "ram": 512, "disk": 1})
    values.update(kw)
    return SimpleNamespace(**values)


def test_lock_fields():
    body = server_detail(request("GET", (2, 73)), instance(), is_admin=False)
    assert (body["locked"], body["locked_reason"], body["tags"]) == (True, "why", ["a"])
    body = server_detail(request("GET", (2, 8)), instance(), is_admin=False)
    assert "locked" not in body and "locked_reason" not in body


def test_disk_config_shown_from_the_instance():
    assert server_detail(request("GET", (2, 1)), instance(), is_admin=False)["OS-DCF:diskConfig"] == "MANUAL"
    body = server_detail(request("GET", (2, 1)), instance(auto_disk_config=True), is_admin=False)
    assert body["OS-DCF:diskConfig"] == "AUTO"


def test_rebuild_body_has_key_name_and_user_data():
    short = server_detail(request("POST", (2, 57)), instance(), is_admin=True, extended=False)
    assert (short["key_name"], short["user_data"]) == ("k1", "dXNlcg==")
    assert "key_name" not in server_detail(request("PUT", (2, 57)), instance(), is_admin=True,
                                           extended=False)
    assert "user_data" not in server_detail(request("POST", (2, 54)), instance(), is_admin=True,
                                            extended=False)
    full = server_detail(request("POST", (2, 75)), instance(), is_admin=True, extended=True)
    assert full["user_data"] == "dXNlcg==" and "OS-EXT-SRV-ATTR:user_data" not in full
    shown = server_detail(request("GET", (2, 75)), instance(), is_admin=True)
    assert shown["OS-EXT-SRV-ATTR:user_data"] == "dXNlcg==" and "user_data" not in shown
