"""Compute API: server power actions (os-stop, os-start, reboot) and nova's state rules.

First against the fake agent of tests/api/test_compute_fakes.py (what the API
casts and with which task_state), then against the real agent with the fake
driver (tests/api/test_compute_agent_e2e.py's ``cloud``): stop -> SHUTOFF,
start -> ACTIVE, reboot SOFT/HARD -> ACTIVE.
"""
from __future__ import annotations

import pytest

from kumo.compute import objects
from tests.api.test_compute_agent import NET_ID, bootable_raw
from tests.api.test_compute_agent_e2e import cloud, wait_for_status  # noqa: F401 (fixture)
from tests.api.test_compute_servers import boot, env  # noqa: F401 (fixture)


async def action(client, server_id, body):
    return await client.post(f"/v2.1/servers/{server_id}/action", json=body)


async def show(client, server_id) -> dict:
    r = await client.get(f"/v2.1/servers/{server_id}")
    assert r.status_code == 200, r.text
    return r.json()["server"]


async def active_server(env) -> str:
    server_id = await boot(env)
    await env.rt.bus.drain()
    assert (await show(env.demo, server_id))["status"] == "ACTIVE"
    return server_id


def conflict(r, message: str) -> None:
    assert r.status_code == 409, r.text
    assert r.json() == {"conflictingRequest": {"code": 409, "message": message}}


# -- fake agent ----------------------------------------------------------------------------


async def test_stop_and_start(env):
    server_id = await active_server(env)
    events = []

    async def sub(event, payload):
        events.append(event)
    env.rt.bus.subscribe("compute.instance.", sub)

    r = await action(env.demo, server_id, {"os-stop": None})
    assert r.status_code == 202 and r.content == b""
    await env.rt.bus.drain()
    assert env.agent.power_calls == [("stop", server_id, "powering-off")]
    server = await show(env.demo, server_id)
    assert server["status"] == "SHUTOFF"
    assert (server["OS-EXT-STS:vm_state"], server["OS-EXT-STS:task_state"],
            server["OS-EXT-STS:power_state"]) == ("stopped", None, 4)
    r = await env.demo.get("/v2.1/servers", params={"status": "SHUTOFF"})
    assert [s["id"] for s in r.json()["servers"]] == [server_id]

    conflict(await action(env.demo, server_id, {"os-stop": None}),
             f"Cannot 'stop' instance {server_id} while it is in vm_state stopped")
    conflict(await action(env.demo, server_id, {"reboot": {"type": "SOFT"}}),
             f"Cannot 'reboot' instance {server_id} while it is in vm_state stopped")

    r = await action(env.demo, server_id, {"os-start": None})
    assert r.status_code == 202
    await env.rt.bus.drain()
    assert env.agent.power_calls[-1] == ("start", server_id, "powering-on")
    server = await show(env.demo, server_id)
    assert (server["status"], server["OS-EXT-STS:power_state"]) == ("ACTIVE", 1)
    conflict(await action(env.demo, server_id, {"os-start": None}),
             f"Cannot 'start' instance {server_id} while it is in vm_state active")
    assert events == []  # starting is not the end of a build: no create.end


async def test_reboot_soft_and_hard(env):
    server_id = await active_server(env)
    for body, task, kind in (({"type": "SOFT"}, "rebooting", "SOFT"),
                             ({"type": "hard"}, "rebooting_hard", "HARD"),
                             ({"type": "Soft"}, "rebooting", "SOFT")):
        r = await action(env.demo, server_id, {"reboot": body})
        assert r.status_code == 202, r.text
        await env.rt.bus.drain()
        assert env.agent.power_calls[-1] == ("reboot", server_id, task, kind)
        assert (await show(env.demo, server_id))["status"] == "ACTIVE"
    # HARD also brings a stopped server back
    assert (await action(env.demo, server_id, {"os-stop": None})).status_code == 202
    await env.rt.bus.drain()
    r = await action(env.demo, server_id, {"reboot": {"type": "HARD"}})
    assert r.status_code == 202
    await env.rt.bus.drain()
    assert (await show(env.demo, server_id))["status"] == "ACTIVE"


async def test_status_while_tasks_run(env):
    server_id = await active_server(env)
    env.agent.hold_power = True
    assert (await action(env.demo, server_id, {"reboot": {"type": "SOFT"}})).status_code == 202
    await env.rt.bus.drain()
    server = await show(env.demo, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("REBOOT", "rebooting")
    # a task in progress: stop / soft reboot refused, a HARD reboot may take over (nova)
    conflict(await action(env.demo, server_id, {"os-stop": None}),
             f"Cannot 'stop' instance {server_id} while it is in task_state rebooting")
    conflict(await action(env.demo, server_id, {"reboot": {"type": "SOFT"}}),
             f"Cannot 'reboot' instance {server_id} while it is in task_state rebooting")
    assert (await action(env.demo, server_id, {"reboot": {"type": "HARD"}})).status_code == 202
    await env.rt.bus.drain()
    server = await show(env.demo, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("HARD_REBOOT", "rebooting_hard")
    # the agent's final update (no expected_task_state) is accepted by the conductor
    await env.rt.bus.call("conductor", "instance_update", instance_id=server_id,
                          values={"vm_state": "active", "power_state": 1, "task_state": None})
    assert (await action(env.demo, server_id, {"os-stop": None})).status_code == 202
    await env.rt.bus.drain()
    server = await show(env.demo, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", "powering-off")
    conflict(await action(env.demo, server_id, {"reboot": {"type": "HARD"}}),
             f"Cannot 'reboot' instance {server_id} while it is in task_state powering-off")
    conflict(await action(env.demo, server_id, {"os-start": None}),
             f"Cannot 'start' instance {server_id} while it is in vm_state active")
    # deleting wins over anything
    assert (await env.demo.delete(f"/v2.1/servers/{server_id}")).status_code == 204
    await env.rt.bus.drain()
    assert (await action(env.demo, server_id, {"os-stop": None})).status_code == 404


async def test_error_and_unscheduled_servers(env):
    broken = await boot(env, flavorRef="9")  # no host can take it: ERROR without a host
    await env.rt.bus.drain()
    assert (await show(env.demo, broken))["status"] == "ERROR"
    conflict(await action(env.demo, broken, {"os-start": None}),
             f"Cannot 'start' instance {broken} while it is in vm_state error")
    conflict(await action(env.demo, broken, {"reboot": {"type": "SOFT"}}),
             f"Cannot 'reboot' instance {broken} while it is in vm_state error")
    conflict(await action(env.demo, broken, {"os-stop": None}), f"Instance {broken} is not ready")
    conflict(await action(env.demo, broken, {"reboot": {"type": "HARD"}}), f"Instance {broken} is not ready")
    assert (await show(env.demo, broken))["OS-EXT-STS:task_state"] is None
    assert env.agent.power_calls == []


async def test_error_server_on_a_host_may_stop_and_hard_reboot(env):
    server_id = await active_server(env)
    await env.rt.bus.call("conductor", "instance_fault", instance_id=server_id, message="boom")
    assert (await show(env.demo, server_id))["status"] == "ERROR"
    assert (await action(env.demo, server_id, {"reboot": {"type": "HARD"}})).status_code == 202
    await env.rt.bus.drain()
    assert (await show(env.demo, server_id))["status"] == "ACTIVE"
    await env.rt.bus.call("conductor", "instance_fault", instance_id=server_id, message="boom")
    assert (await action(env.demo, server_id, {"os-stop": None})).status_code == 202
    await env.rt.bus.drain()
    assert (await show(env.demo, server_id))["status"] == "SHUTOFF"


async def test_agent_gone_is_409_and_task_undone(env):
    server_id = await active_server(env)
    await env.rt.bus.unserve(env.agent)
    r = await action(env.demo, server_id, {"os-stop": None})
    conflict(r, "Compute service of testhost is unavailable at this time.")
    assert (await show(env.demo, server_id))["OS-EXT-STS:task_state"] is None


@pytest.mark.parametrize("body, message", [
    ({"reboot": {"type": "COLD"}}, "Invalid input for field/attribute reboot/type. Value: COLD."),
    ({"reboot": {}}, "Invalid input for field/attribute reboot. Value: {}. 'type' is a required property"),
    ({"reboot": None}, "Invalid input for field/attribute reboot. Value: None."),
    ({"reboot": {"type": "SOFT", "x": 1}}, "Additional properties are not allowed ('x' was unexpected)"),
    ({"os-stop": None, "os-start": None}, "Malformed request body"),
    ({"os-pause": None}, "There is no such action: os-pause"),
])
async def test_bad_bodies_are_400(env, body, message):
    server_id = await active_server(env)
    r = await action(env.demo, server_id, body)
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"].startswith(message)
    assert env.agent.power_calls == []


async def test_other_projects_and_readers(env):
    server_id = await active_server(env)
    for body in ({"os-stop": None}, {"os-start": None}, {"reboot": {"type": "HARD"}}):
        r = await action(env.alt, server_id, body)
        assert r.status_code == 404
        assert r.json()["itemNotFound"]["message"] == f"Instance {server_id} could not be found."
    r = await action(env.demo, "nope", {"os-stop": None})
    assert r.status_code == 404
    for body, rule in (({"os-stop": None}, "stop"), ({"os-start": None}, "start"),
                       ({"reboot": {"type": "SOFT"}}, "reboot")):
        r = await action(env.reader, server_id, body)
        assert r.status_code == 403
        assert r.json()["forbidden"]["message"] == (
            f"Policy doesn't allow os_compute_api:servers:{rule} to be performed.")
    assert env.agent.power_calls == []
    # admins act on any project's server
    assert (await action(env.admin, server_id, {"os-stop": None})).status_code == 202
    await env.rt.bus.drain()
    assert (await show(env.demo, server_id))["status"] == "SHUTOFF"


def test_status_map():
    assert objects.server_status("stopped", None) == "SHUTOFF"
    assert objects.server_status("stopped", "powering-on") == "SHUTOFF"
    assert objects.server_status("active", "powering-off") == "ACTIVE"
    assert objects.server_status("active", "rebooting") == "REBOOT"
    assert objects.server_status("active", "rebooting_hard") == "HARD_REBOOT"
    assert ("active", "rebooting_hard") in objects.states_for_status("HARD_REBOOT")


# -- the real agent (fake driver) -----------------------------------------------------------


async def test_power_actions_with_the_real_agent(cloud):  # noqa: F811
    image_id = cloud.images.add(bootable_raw())
    r = await cloud.demo.post("/v2.1/servers", json={"server": {
        "name": "vm1", "imageRef": image_id, "flavorRef": "1", "networks": [{"uuid": NET_ID}]}})
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "ACTIVE")
    guest = cloud.agent.driver.guests[server_id]

    assert (await action(cloud.demo, server_id, {"os-stop": None})).status_code == 202
    await cloud.rt.bus.drain()
    server = await wait_for_status(cloud.demo, server_id, "SHUTOFF")
    assert (server["OS-EXT-STS:vm_state"], server["OS-EXT-STS:task_state"],
            server["OS-EXT-STS:power_state"]) == ("stopped", None, 4)
    assert guest["power_state"] == 4
    conflict(await action(cloud.demo, server_id, {"reboot": {"type": "SOFT"}}),
             f"Cannot 'reboot' instance {server_id} while it is in vm_state stopped")

    assert (await action(cloud.demo, server_id, {"os-start": None})).status_code == 202
    await cloud.rt.bus.drain()
    server = await wait_for_status(cloud.demo, server_id, "ACTIVE")
    assert (server["OS-EXT-STS:task_state"], server["OS-EXT-STS:power_state"]) == (None, 1)
    assert guest["power_state"] == 1

    for kind in ("SOFT", "HARD"):
        assert (await action(cloud.demo, server_id, {"reboot": {"type": kind}})).status_code == 202
        await cloud.rt.bus.drain()
        server = await wait_for_status(cloud.demo, server_id, "ACTIVE")
        assert (server["OS-EXT-STS:task_state"], server["OS-EXT-STS:power_state"]) == (None, 1)

    # HARD reboot of a stopped server powers it on
    assert (await action(cloud.demo, server_id, {"os-stop": None})).status_code == 202
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "SHUTOFF")
    assert (await action(cloud.demo, server_id, {"reboot": {"type": "HARD"}})).status_code == 202
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "ACTIVE")
    assert guest["power_state"] == 1

    r = await action(cloud.demo, server_id, {"reboot": {"type": "WARM"}})
    assert r.status_code == 400

    assert (await cloud.demo.delete(f"/v2.1/servers/{server_id}")).status_code == 204
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "DELETED")


async def test_failed_power_action_with_the_real_agent_clears_the_task(cloud):  # noqa: F811
    image_id = cloud.images.add(bootable_raw())
    r = await cloud.demo.post("/v2.1/servers", json={"server": {
        "name": "vm2", "imageRef": image_id, "flavorRef": "1", "networks": [{"uuid": NET_ID}]}})
    server_id = r.json()["server"]["id"]
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "ACTIVE")
    cloud.agent.driver.guests.pop(server_id)  # the guest vanished behind the agent's back
    assert (await action(cloud.demo, server_id, {"os-stop": None})).status_code == 202
    await cloud.rt.bus.drain()
    server = await wait_for_status(cloud.demo, server_id, "ACTIVE")
    assert (server["OS-EXT-STS:task_state"], server["OS-EXT-STS:power_state"]) == (None, 0)
