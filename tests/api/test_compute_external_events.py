"""POST /os-server-external-events: answers per event (200/207/404, codes 200/404/422), body
checks, policy, and network-changed refreshing a server's floating IPs from the network API
(fake network API of test_compute_network_fakes; responses checked with Tempest's schema)."""
from __future__ import annotations

from tempest.lib.api_schema.response.compute.v2_1 import server_external_events as schema

from tests.api.test_compute_fakes import validate
from tests.api.test_compute_network_fakes import cloud  # noqa: F401 (fixture)
from tests.api.test_compute_security_groups import boot

URL = "/v2.1/os-server-external-events"
MISSING = "00000000-0000-4000-8000-000000000000"


def floating(server: dict) -> list[str]:
    return [a["addr"] for net in server["addresses"].values() for a in net
            if a["OS-EXT-IPS:type"] == "floating"]


async def test_network_changed_shows_floating_ips(cloud):
    server_id = await boot(cloud)
    port, = cloud.network.ports.values()
    fip = {"id": "f1", "floating_ip_address": "172.24.4.99", "floating_network_id": "x",
           "port_id": port["id"], "fixed_ip_address": None, "project_id": port.get("project_id"),
           "status": "ACTIVE"}
    cloud.network.fips["f1"] = fip
    event = {"name": "network-changed", "server_uuid": server_id, "tag": port["id"]}
    r = await cloud.admin.post(URL, json={"events": [event]})
    validate(schema.create, r)
    assert r.json()["events"] == [dict(event, code=200, status="completed")]
    shown = (await cloud.demo.get(f"/v2.1/servers/{server_id}")).json()["server"]
    assert floating(shown) == ["172.24.4.99"]
    # released: the next event takes it away
    del cloud.network.fips["f1"]
    r = await cloud.admin.post(URL, json={"events": [event]})
    assert r.status_code == 200
    assert floating((await cloud.demo.get(f"/v2.1/servers/{server_id}")).json()["server"]) == []

    # some unknown: 207 with per-event codes; all unknown: 404
    r = await cloud.admin.post(URL, json={"events": [
        {"name": "network-vif-plugged", "server_uuid": server_id, "status": "failed"},
        {"name": "network-changed", "server_uuid": MISSING}]})
    assert r.status_code == 207
    assert [(e["code"], e["status"]) for e in r.json()["events"]] == [(200, "failed"), (404, "failed")]
    r = await cloud.admin.post(URL, json={"events": [{"name": "network-changed", "server_uuid": MISSING}]})
    assert r.status_code == 404 and r.json()["events"][0]["code"] == 404


async def test_bad_bodies_and_policy(cloud):
    server_id = await boot(cloud)
    good = {"name": "network-changed", "server_uuid": server_id}
    for body in ({}, {"events": []}, {"events": "x"}, {"events": [good], "extra": 1},
                 {"events": [dict(good, name="reboot")]}, {"events": [dict(good, status="done")]},
                 {"events": [dict(good, tag="t" * 256)]}, {"events": [{"name": "network-changed"}]},
                 {"events": [dict(good, other=1)]}):
        r = await cloud.admin.post(URL, json=body)
        assert r.status_code == 400, (body, r.text)
    r = await cloud.demo.post(URL, json={"events": [good]})
    assert r.status_code == 403
