"""Compute agent: console output, power operations and stop (start-up reconcile and power sync:
test_compute_agent_sync.py)."""
from __future__ import annotations

import pytest

from kumo.common.bus import RemoteError
from kumo.compute import agent as compute_agent
from kumo.compute.virt import base
from tests.api.test_compute_agent import env, make_instance  # noqa: F401  (env is a fixture)


async def test_console_output(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    out = await env.rt.bus.call("compute.testhost", "get_console_output", instance=inst, length=None)
    assert out.startswith(f"fake console for {inst['instance_name']}\n")
    assert await env.rt.bus.call("compute.testhost", "get_console_output", instance=inst, length=0) == ""
    # the plain topic reaches this agent too
    last = await env.rt.bus.call("compute", "get_console_output", instance=inst, length=1)
    assert last == f"{inst['instance_name']} login: " and out.endswith(last)


async def test_console_output_of_unknown_instance_is_a_remote_not_found(env):  # noqa: F811
    inst = make_instance(env.image_id)
    with pytest.raises(RemoteError) as e:
        await env.rt.bus.call("compute.testhost", "get_console_output", instance=inst, length=None)
    assert e.value.kind == "InstanceNotFound"


async def test_stop_start_reboot(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    uuid = inst["uuid"]
    row = env.conductor.rows[uuid]

    row["task_state"] = "powering-off"
    await env.rt.bus.call("compute.testhost", "stop_instance", instance=row)
    assert (row["vm_state"], row["power_state"], row["task_state"]) == ("stopped", base.SHUTDOWN, None)
    assert env.driver.guests[uuid]["power_state"] == base.SHUTDOWN

    row["task_state"] = "powering-on"
    await env.rt.bus.call("compute.testhost", "start_instance", instance=row)
    assert (row["vm_state"], row["power_state"], row["task_state"]) == ("active", base.RUNNING, None)

    row["task_state"] = "rebooting_hard"
    await env.rt.bus.call("compute.testhost", "reboot_instance", instance=row, reboot_type="HARD")
    assert (row["vm_state"], row["task_state"]) == ("active", None)


async def test_failed_power_action_resets_task_state(env):  # noqa: F811
    inst = make_instance(env.image_id)
    env.conductor.rows[inst["uuid"]] = dict(inst, task_state="powering-on")
    with pytest.raises(RemoteError):
        await env.rt.bus.call("compute.testhost", "start_instance", instance=inst)
    row = env.conductor.rows[inst["uuid"]]
    assert row["task_state"] is None and row["power_state"] == base.NOSTATE


async def test_stop_unserves_the_topic(rt, mount):
    comp = await mount(compute_agent.component)
    await comp.stop()
    with pytest.raises(Exception):
        await rt.bus.call("compute.testhost", "get_console_output", instance={"uuid": "x"}, length=None)
    await comp.start()  # the fixture stops it again


async def test_report_loop_survives_a_missing_conductor(rt, mount):
    """No conductor yet (the agent started first): start() still succeeds, reports resume later."""
    comp = await mount(lambda r: compute_agent.component(r, interval=0.01))
    from tests.api.test_compute_agent import FakeConductor, wait_until
    conductor = FakeConductor()
    await rt.bus.serve("conductor", conductor)
    await wait_until(lambda: conductor.heartbeats)
    assert conductor.heartbeats[0] == ("testhost", "nova-compute", "compute")
    assert comp.manager.host == "testhost"


async def test_config_drive_is_built_and_attached(env):  # noqa: F811
    inst = make_instance(env.image_id, config_drive=True, key_name="k1", key_data="ssh-ed25519 AAAA k@x")
    await env.build(inst)
    assert env.conductor.faults == {}
    iso = env.instances_dir / inst["uuid"] / "disk.config"
    assert iso.exists()
    assert env.driver.guests[inst["uuid"]]["disks"]["hda"] == str(iso)


async def test_bad_user_data_for_a_config_drive_faults_and_cleans_up(env):  # noqa: F811
    inst = make_instance(env.image_id, config_drive=True, user_data="%%%")
    await env.build(inst)
    assert env.conductor.faults[inst["uuid"]]["message"] == "Instance user_data is not valid base64"
    assert not (env.instances_dir / inst["uuid"]).exists()
    assert env.network.ports == {}
