"""Compute API: server tags, lock/unlock, os-resetState, os-server-password, diagnostics."""
from __future__ import annotations

import pytest
from tempest.lib.api_schema.response.compute.v2_1 import servers as s21
from tempest.lib.api_schema.response.compute.v2_26 import servers as s226
from tempest.lib.api_schema.response.compute.v2_48 import servers as s248
from tempest.lib.api_schema.response.compute.v2_73 import servers as s273

from kumo.common.auth.metadata_sign import sign
from kumo.compute import metadata
from tests.api.test_compute_agent import NET_ID, bootable_raw
from tests.api.test_compute_agent_e2e import cloud, wait_for_status  # noqa: F401 (fixture)
from tests.api.test_compute_fakes import DEMO, mv, validate
from tests.api.test_compute_servers import boot, env  # noqa: F401 (fixture)

V26 = mv("2.26")


async def active(env) -> str:
    server_id = await boot(env)
    await env.rt.bus.drain()
    return server_id


def tags_url(server_id: str, tag: str = "") -> str:
    return f"/v2.1/servers/{server_id}/tags" + (f"/{tag}" if tag else "")


async def test_tags_crud(env):
    server_id = await active(env)
    assert (await env.demo.get(tags_url(server_id))).status_code == 404  # before 2.26
    r = await env.reader.get(tags_url(server_id), headers=V26)
    validate(s226.list_tags, r)
    assert r.json() == {"tags": []}

    r = await env.demo.put(tags_url(server_id, "web"), headers=V26)
    validate(s226.update_tag, r)
    assert r.status_code == 201 and r.headers["location"].endswith(f"/servers/{server_id}/tags/web")
    assert (await env.demo.put(tags_url(server_id, "web"), headers=V26)).status_code == 204
    assert (await env.demo.get(tags_url(server_id, "web"), headers=V26)).status_code == 204
    assert (await env.demo.get(tags_url(server_id, "db"), headers=V26)).status_code == 404

    r = await env.demo.put(tags_url(server_id), json={"tags": ["a", "b", "a"]}, headers=V26)
    validate(s226.update_all_tags, r)
    assert r.json() == {"tags": ["a", "b"]}
    server = (await env.demo.get(f"/v2.1/servers/{server_id}", headers=V26)).json()["server"]
    assert server["tags"] == ["a", "b"]
    assert (await env.demo.delete(tags_url(server_id, "a"), headers=V26)).status_code == 204
    assert (await env.demo.delete(tags_url(server_id, "a"), headers=V26)).status_code == 404
    assert (await env.demo.delete(tags_url(server_id), headers=V26)).status_code == 204
    assert (await env.demo.get(tags_url(server_id), headers=V26)).json() == {"tags": []}

    # bad input, limits, rights
    for body in ({"tags": ["a,b"]}, {"tags": ["x" * 61]}, {"tags": "a"}, {}, {"tags": [], "x": 1},
                 {"tags": [f"t{i}" for i in range(51)]}):
        r = await env.demo.put(tags_url(server_id), json=body, headers=V26)
        assert r.status_code == 400 and "badRequest" in r.json(), body
    await env.demo.put(tags_url(server_id), json={"tags": [f"t{i}" for i in range(50)]}, headers=V26)
    r = await env.demo.put(tags_url(server_id, "one-more"), headers=V26)
    assert r.status_code == 400 and "per-server limit 50" in r.text
    assert (await env.reader.put(tags_url(server_id, "x"), headers=V26)).status_code == 403
    assert (await env.alt.get(tags_url(server_id), headers=V26)).status_code == 404


async def test_tag_list_filters(env):
    ids = {}
    for name, tags in (("a", ["red", "big"]), ("b", ["red"]), ("c", [])):
        ids[name] = await boot(env, name=name)
        if tags:
            r = await env.demo.put(tags_url(ids[name]), json={"tags": tags}, headers=V26)
            assert r.status_code == 200
    await env.rt.bus.drain()

    async def names(**params) -> set[str]:
        r = await env.demo.get("/v2.1/servers", params=params, headers=V26)
        assert r.status_code == 200, r.text
        return {s["name"] for s in r.json()["servers"]}
    assert await names(tags="red,big") == {"a"}
    assert await names(**{"tags-any": "big,red"}) == {"a", "b"}
    assert await names(**{"not-tags": "red,big"}) == {"b", "c"}
    assert await names(**{"not-tags-any": "big,red"}) == {"c"}
    r = await env.demo.get("/v2.1/servers", params={"tags": "red"})  # ignored before 2.26
    assert len(r.json()["servers"]) == 3


async def test_lock_unlock_and_the_lock_policy(env):
    server_id = await active(env)
    action = f"/v2.1/servers/{server_id}/action"
    r = await env.demo.post(action, json={"lock": {"locked_reason": "maintenance"}}, headers=mv("2.73"))
    assert r.status_code == 202, r.text
    r = await env.demo.get(f"/v2.1/servers/{server_id}", headers=mv("2.73"))
    validate(s273.get_server, r)
    assert (r.json()["server"]["locked"], r.json()["server"]["locked_reason"]) == (True, "maintenance")
    # a locked server refuses actions, deletes and metadata changes to non-admins
    for call in (env.demo.post(action, json={"os-stop": None}),
                 env.demo.delete(f"/v2.1/servers/{server_id}"),
                 env.demo.post(f"/v2.1/servers/{server_id}/metadata", json={"metadata": {"a": "b"}})):
        r = await call
        assert r.status_code == 409 and r.json()["conflictingRequest"]["message"] == \
            f"Instance {server_id} is locked"
    assert (await env.reader.post(action, json={"unlock": None})).status_code == 403
    # before 2.73 nova checks no lock body (tempest sends {}); from 2.73 the reason is checked
    assert (await env.demo.post(action, json={"lock": {}})).status_code == 202
    assert (await env.demo.post(action, json={"lock": {"locked_reason": 5}}, headers=mv("2.73"))).status_code == 400
    assert (await env.demo.post(action, json={"lock": {"other": "x"}}, headers=mv("2.73"))).status_code == 400

    assert (await env.demo.post(action, json={"unlock": {}})).status_code == 202  # as tempest sends it
    server = (await env.demo.get(f"/v2.1/servers/{server_id}", headers=mv("2.73"))).json()["server"]
    assert (server["locked"], server["locked_reason"]) == (False, None)

    # locked by an admin: the owner cannot unlock it; the admin may still act on it
    assert (await env.admin.post(action, json={"lock": None})).status_code == 202
    r = await env.demo.post(action, json={"unlock": None})
    assert r.status_code == 403
    assert (await env.admin.post(action, json={"os-stop": None})).status_code == 202
    assert (await env.admin.post(action, json={"unlock": None})).status_code == 202
    r = await env.demo.get(f"/v2.1/servers/{server_id}/os-instance-actions")
    assert [a["action"] for a in r.json()["instanceActions"]][:3] == ["unlock", "stop", "lock"]


async def test_reset_state(env):
    server_id = await active(env)
    action = f"/v2.1/servers/{server_id}/action"
    assert (await env.demo.post(action, json={"os-resetState": {"state": "error"}})).status_code == 403
    for bad in ({"state": "stopped"}, {}, None, {"state": "error", "x": 1}):
        assert (await env.admin.post(action, json={"os-resetState": bad})).status_code == 400, bad
    assert (await env.admin.post(action, json={"os-resetState": {"state": "error"}})).status_code == 202
    r = await env.demo.get("/v2.1/servers", params={"status": "ERROR"})
    assert [s["id"] for s in r.json()["servers"]] == [server_id]
    assert (await env.admin.post(action, json={"os-resetState": {"state": "active"}})).status_code == 202
    server = (await env.demo.get(f"/v2.1/servers/{server_id}")).json()["server"]
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", None)


async def test_inject_network_info(env):
    server_id = await active(env)
    action = f"/v2.1/servers/{server_id}/action"
    assert (await env.demo.post(action, json={"injectNetworkInfo": None})).status_code == 403
    assert (await env.admin.post(action, json={"injectNetworkInfo": None})).status_code == 202
    r = await env.admin.get(f"/v2.1/servers/{server_id}/os-instance-actions")
    assert r.json()["instanceActions"][0]["action"] == "inject_network_info"


@pytest.fixture
def settings(settings):
    settings.metadata.shared_secret = "s3cret"
    return settings


async def test_password_from_the_metadata_service(env, mount):
    server_id = await active(env)
    meta = await mount(metadata.component, token=None)
    h = {"X-Instance-ID": server_id, "X-Tenant-ID": DEMO,
         "X-Instance-ID-Signature": sign("s3cret", server_id)}
    url = f"/v2.1/servers/{server_id}/os-server-password"
    r = await env.demo.get(url)
    validate(s21.show_password, r)
    assert r.json() == {"password": ""}
    assert (await meta.post("/openstack/latest/password", content=b"x" * 1021, headers=h)).status_code == 400
    assert (await meta.post("/openstack/latest/password", content=b"ENCRYPTED", headers=h)).status_code == 200
    assert (await meta.post("/openstack/latest/password", content=b"again", headers=h)).status_code == 409
    assert (await meta.post("/openstack/latest/meta_data.json", content=b"x", headers=h)).status_code == 404
    assert (await meta.get("/openstack/latest/password", headers=h)).text == "ENCRYPTED"
    assert (await env.demo.get(url)).json() == {"password": "ENCRYPTED"}
    assert (await env.alt.get(url)).status_code == 404
    assert (await env.reader.delete(url)).status_code == 403
    r = await env.demo.delete(url)
    validate(s21.server_actions_delete_password, r)
    assert (await env.demo.get(url)).json() == {"password": ""}
    assert (await meta.post("/openstack/2013-04-04/password", content=b"new", headers=h)).status_code == 200


async def test_diagnostics_from_the_agent(cloud):  # noqa: F811
    image_id = cloud.images.add(bootable_raw())
    r = await cloud.demo.post("/v2.1/servers", json={"server": {
        "name": "vm1", "imageRef": image_id, "flavorRef": "1", "networks": [{"uuid": NET_ID}]}})
    server_id = r.json()["server"]["id"]
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "ACTIVE")
    url = f"/v2.1/servers/{server_id}/diagnostics"
    assert (await cloud.demo.get(url)).status_code == 403
    r = await cloud.admin.get(url, headers=mv("2.48"))
    validate(s248.show_server_diagnostics, r)
    diag = r.json()
    assert (diag["state"], diag["num_cpus"], diag["num_nics"]) == ("running", 1, 1)
    assert diag["memory_details"] == {"maximum": 512, "used": 512}
    r = await cloud.admin.get(url)  # before 2.48: the flat libvirt body
    assert r.status_code == 200 and r.json()["memory"] == 512 * 1024 and "cpu0_time" in r.json()

    # a locked server takes no interface changes from its owner
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"lock": None})
    assert r.status_code == 202
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/os-interface", json={"interfaceAttachment": {
        "net_id": NET_ID}})
    assert r.status_code == 409 and r.json()["conflictingRequest"]["message"] == f"Instance {server_id} is locked"
