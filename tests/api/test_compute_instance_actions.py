"""Compute API: os-instance-actions (actions recorded by the API, events by the agent)."""
from __future__ import annotations

from tempest.lib.api_schema.response.compute.v2_1 import servers as s21
from tempest.lib.api_schema.response.compute.v2_58 import servers as s258
from tempest.lib.api_schema.response.compute.v2_62 import servers as s262

from kumo.compute import instance_actions
from tests.api.test_compute_agent import NET_ID, bootable_raw
from tests.api.test_compute_agent_e2e import cloud, wait_for_status  # noqa: F401 (fixture)
from tests.api.test_compute_fakes import mv, validate
from tests.api.test_compute_servers import env, server_body  # noqa: F401 (fixture)


def url(server_id: str, request_id: str = "") -> str:
    return f"/v2.1/servers/{server_id}/os-instance-actions" + (f"/{request_id}" if request_id else "")


async def boot_active(env) -> tuple[str, str]:
    r = await env.demo.post("/v2.1/servers", json=server_body(env))
    assert r.status_code == 202, r.text
    await env.rt.bus.drain()
    return r.json()["server"]["id"], r.headers["x-compute-request-id"]


async def test_create_and_reboot_are_listed_and_shown(env):
    server_id, create_req = await boot_active(env)
    r = await env.demo.post(f"/v2.1/servers/{server_id}/action", json={"reboot": {"type": "HARD"}})
    assert r.status_code == 202
    reboot_req = r.headers["x-compute-request-id"]
    await env.rt.bus.drain()

    r = await env.reader.get(url(server_id))
    validate(s21.list_instance_actions, r)
    actions = r.json()["instanceActions"]
    assert [a["action"] for a in actions] == ["reboot", "create"]  # newest first
    assert [a["request_id"] for a in actions] == [reboot_req, create_req]
    assert {a["instance_uuid"] for a in actions} == {server_id}
    assert actions[1]["message"] is None

    r = await env.demo.get(url(server_id, create_req))
    validate(s21.show_instance_action, r)
    body = r.json()["instanceAction"]
    assert (body["action"], body["instance_uuid"], body["request_id"]) == ("create", server_id, create_req)
    assert "events" not in body  # before 2.51 only admins get the events
    r = await env.demo.get(url(server_id, create_req), headers=mv("2.51"))
    assert r.json()["instanceAction"]["events"] == []  # the fake agent reports none

    r = await env.demo.get(url(server_id, "req-nope"))
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == "Action req-nope not found"
    assert (await env.alt.get(url(server_id))).status_code == 404
    assert (await env.admin.get(url(server_id))).status_code == 200


async def test_deleted_server_actions_from_2_21(env):
    server_id, _ = await boot_active(env)
    r = await env.demo.delete(f"/v2.1/servers/{server_id}")
    assert r.status_code == 204
    await env.rt.bus.drain()
    assert (await env.demo.get(url(server_id))).status_code == 404
    r = await env.demo.get(url(server_id), headers=mv("2.21"))
    assert r.status_code == 200
    assert sorted(a["action"] for a in r.json()["instanceActions"]) == ["create", "delete"]


async def test_paging_and_changes_since_2_58(env):
    server_id, _ = await boot_active(env)
    for _ in range(2):
        r = await env.demo.post(f"/v2.1/servers/{server_id}/action", json={"reboot": {"type": "SOFT"}})
        assert r.status_code == 202
        await env.rt.bus.drain()
    r = await env.demo.get(url(server_id), headers=mv("2.58"))
    validate(s258.list_instance_actions, r)
    everything = r.json()["instanceActions"]
    assert len(everything) == 3 and "links" not in r.json()
    r = await env.demo.get(url(server_id), params={"limit": 2}, headers=mv("2.58"))
    page = r.json()
    assert [a["request_id"] for a in page["instanceActions"]] == [a["request_id"] for a in everything[:2]]
    assert page["links"][0]["rel"] == "next" and f"marker={everything[1]['request_id']}" in page["links"][0]["href"]
    r = await env.demo.get(url(server_id), params={"marker": everything[1]["request_id"]}, headers=mv("2.58"))
    assert [a["action"] for a in r.json()["instanceActions"]] == ["create"]
    r = await env.demo.get(url(server_id), params={"marker": "req-unknown"}, headers=mv("2.58"))
    assert r.status_code == 400
    r = await env.demo.get(url(server_id), params={"changes-since": "2999-01-01T00:00:00Z"}, headers=mv("2.58"))
    assert r.json()["instanceActions"] == []
    r = await env.demo.get(url(server_id), params={"changes-since": "yesterday"}, headers=mv("2.58"))
    assert r.status_code == 400
    r = await env.demo.get(url(server_id), params={"limit": "-1"}, headers=mv("2.58"))
    assert r.status_code == 400


async def test_agent_events_and_who_sees_the_traceback(cloud):  # noqa: F811
    image_id = cloud.images.add(bootable_raw())
    r = await cloud.demo.post("/v2.1/servers", json={"server": {
        "name": "vm1", "imageRef": image_id, "flavorRef": "1", "networks": [{"uuid": NET_ID}]}})
    assert r.status_code == 202, r.text
    server_id, create_req = r.json()["server"]["id"], r.headers["x-compute-request-id"]
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "ACTIVE")
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"os-stop": None})
    stop_req = r.headers["x-compute-request-id"]
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "SHUTOFF")

    r = await cloud.demo.get(url(server_id, create_req), headers=mv("2.62"))
    validate(s262.show_instance_action, r)
    [event] = r.json()["instanceAction"]["events"]
    assert (event["event"], event["result"]) == ("compute__do_build_and_run_instance", "Success")
    assert event["finish_time"] and event["hostId"] and "traceback" not in event and "host" not in event

    r = await cloud.admin.get(url(server_id, stop_req), headers=mv("2.62"))
    validate(s262.show_instance_action, r)
    [event] = r.json()["instanceAction"]["events"]
    assert (event["event"], event["result"], event["traceback"]) == ("compute_stop_instance", "Success", None)
    assert event["host"] == cloud.rt.settings.common.host and "details" not in event
    r = await cloud.admin.get(url(server_id, stop_req))  # admins see events at 2.1 too
    assert len(r.json()["instanceAction"]["events"]) == 1


async def test_conductor_errors_mark_the_action(env):
    server_id, create_req = await boot_active(env)
    call = env.rt.bus.call
    assert await call("conductor", "action_event_start", instance_id=server_id, event="compute_x",
                      action="create", host="h1")
    assert await call("conductor", "action_event_finish", instance_id=server_id, event="compute_x",
                      result="Error", traceback="Traceback: boom", details="boom", action="create")
    # a finished event stays as it is; a fault fails the open event of the newest action
    assert await call("conductor", "action_event_finish", instance_id=server_id, event="compute_x",
                      action="create")
    assert await call("conductor", "action_event_start", instance_id=server_id, event="compute_y",
                      request_id=create_req)
    await call("conductor", "instance_fault", instance_id=server_id, message="disk gone", details="tb")
    assert not await call("conductor", "action_event_start", instance_id="no-such", event="e")

    r = await env.admin.get(url(server_id, create_req), headers=mv("2.62"))
    body = r.json()["instanceAction"]
    assert body["message"] == instance_actions.ERROR
    got = {e["event"]: (e["result"], e["traceback"]) for e in body["events"]}
    assert got == {"compute_x": ("Error", "Traceback: boom"), "compute_y": ("Error", "tb")}
    r = await env.demo.get(url(server_id, create_req), headers=mv("2.62"))
    assert all("traceback" not in e and "host" not in e for e in r.json()["instanceAction"]["events"])
