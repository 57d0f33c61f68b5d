"""Compute agent robustness (kumo.compute.agent.sync) with the fake driver and fake conductor:
power-state sync, start-up reconcile after a restart, disks removed on delete, image cache
ageing with a fake clock."""
from __future__ import annotations

import time

from kumo.compute import agent as compute_agent
from kumo.compute.virt import base
from tests.api.test_compute_agent import (NET_ID, bootable_raw, env, instance_dirs,  # noqa: F401
                                          make_instance, wait_until)
from tests.api.test_compute_agent_e2e import cloud, wait_for_status  # noqa: F401  (cloud: a fixture)

DAY = 86400


def guest_of(env, inst):  # noqa: F811
    return env.driver.guests[inst["uuid"]]


async def restart(env):  # noqa: F811
    """Stop and start the agent: the fake hypervisor keeps its guests, the agent reconciles."""
    await env.agent.stop()
    await env.agent.start()


# -- power-state sync ---------------------------------------------------------------
async def test_a_guest_that_powers_itself_off_becomes_shutoff(env):  # noqa: F811
    inst = make_instance(env.image_id)
    row = await env.build(inst)
    calls = len(env.conductor.updates)
    assert await env.agent.manager.sync_power_states() == 0
    assert len(env.conductor.updates) == calls  # in agreement: nothing sent
    guest_of(env, inst)["power_state"] = base.SHUTDOWN  # `poweroff` inside the guest
    assert await env.agent.manager.sync_power_states() == 1
    assert (row["vm_state"], row["power_state"], row["task_state"]) == ("stopped", base.SHUTDOWN, None)
    assert await env.agent.manager.sync_power_states() == 0


async def test_power_sync_leaves_an_instance_with_a_task_alone(env):  # noqa: F811
    inst = make_instance(env.image_id)
    row = await env.build(inst)
    row["task_state"] = "powering-off"
    guest_of(env, inst)["power_state"] = base.SHUTDOWN
    assert await env.agent.manager.sync_power_states() == 0
    assert (row["vm_state"], row["power_state"]) == ("active", base.RUNNING)


async def test_power_sync_crashed_guest_is_powered_off_and_stopped(env):  # noqa: F811
    inst = make_instance(env.image_id)
    row = await env.build(inst)
    guest_of(env, inst)["power_state"] = base.CRASHED
    await env.agent.manager.sync_power_states()
    assert (row["vm_state"], row["power_state"]) == ("stopped", base.SHUTDOWN)
    assert guest_of(env, inst)["power_state"] == base.SHUTDOWN


async def test_power_sync_powers_off_a_stopped_server_whose_guest_runs(env):  # noqa: F811
    inst = make_instance(env.image_id)
    row = await env.build(inst)
    row.update(vm_state="stopped", power_state=base.SHUTDOWN)  # e.g. `virsh start` behind kumo's back
    await env.agent.manager.sync_power_states()
    assert guest_of(env, inst)["power_state"] == base.SHUTDOWN
    assert (row["vm_state"], row["power_state"]) == ("stopped", base.SHUTDOWN)


async def test_power_sync_only_records_a_paused_or_missing_guest(env):  # noqa: F811
    paused, gone = make_instance(env.image_id), make_instance(env.image_id)
    row_p, row_g = await env.build(paused), await env.build(gone)
    guest_of(env, paused)["power_state"] = base.PAUSED
    del env.driver.guests[gone["uuid"]]
    await env.agent.manager.sync_power_states()
    assert (row_p["vm_state"], row_p["power_state"]) == ("active", base.PAUSED)
    assert (row_g["vm_state"], row_g["power_state"]) == ("active", base.NOSTATE)


async def test_power_sync_runs_periodically(rt, router, mount):
    from tests.api.test_compute_agent import FakeConductor
    rt.settings.compute.sync_power_state_interval = 0.02
    conductor = FakeConductor()
    await rt.bus.serve("conductor", conductor)
    comp = await mount(compute_agent.component)
    uuid = "22222222-0000-4000-8000-000000000001"
    conductor.rows[uuid] = {"uuid": uuid, "host": "testhost", "vm_state": "active", "task_state": None,
                            "power_state": base.RUNNING, "instance_name": "instance-00000001"}
    comp.driver.guests[uuid] = {"name": "instance-00000001", "uuid": uuid, "power_state": base.SHUTDOWN}
    await wait_until(lambda: conductor.rows[uuid]["vm_state"] == "stopped")
    assert conductor.rows[uuid]["power_state"] == base.SHUTDOWN


# -- start-up reconcile ------------------------------------------------------------------
def fake_guest(env, uuid, n, power=base.RUNNING):  # noqa: F811
    env.driver.guests[uuid] = {"name": "instance-%08x" % n, "uuid": uuid, "power_state": power}


async def test_restart_destroys_orphan_guests_and_directories(env):  # noqa: F811
    kept = make_instance(env.image_id)
    deleted = make_instance(env.image_id)
    await env.build(kept)
    await env.build(deleted)
    env.conductor.rows[deleted["uuid"]]["vm_state"] = "deleted"  # deleted while the agent was down
    unknown_with_dir = "33333333-0000-4000-8000-000000000001"
    unknown_elsewhere = "33333333-0000-4000-8000-000000000002"
    dir_only = "33333333-0000-4000-8000-000000000003"
    fake_guest(env, unknown_with_dir, 0x901)
    fake_guest(env, unknown_elsewhere, 0x902)
    for uuid in (unknown_with_dir, dir_only):
        (env.instances_dir / uuid).mkdir()
        (env.instances_dir / uuid / "disk").write_bytes(b"x")
    (env.instances_dir / "not-an-instance").mkdir()

    await restart(env)

    assert set(env.driver.guests) == {kept["uuid"], unknown_elsewhere}
    assert instance_dirs(env) == sorted([kept["uuid"], "not-an-instance"])
    assert env.conductor.rows[kept["uuid"]]["vm_state"] == "active"
    assert (env.instances_dir / "_base" / env.image_id).exists()


async def test_reconcile_reports_unknown_guests_it_leaves_alone(env):  # noqa: F811
    fake_guest(env, "33333333-0000-4000-8000-000000000009", 0x909)
    assert await env.agent.manager.reconcile() == ["instance-00000909"]
    assert "33333333-0000-4000-8000-000000000009" in env.driver.guests


async def test_restart_without_a_conductor_destroys_nothing(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    env.conductor.rows[inst["uuid"]]["vm_state"] = "deleted"
    await env.rt.bus.unserve(env.conductor)
    await restart(env)
    assert inst["uuid"] in env.driver.guests and (env.instances_dir / inst["uuid"] / "disk").exists()


async def test_restart_puts_an_instance_whose_guest_vanished_in_error(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    await env.agent.stop()
    del env.driver.guests[inst["uuid"]]  # e.g. `virsh undefine` while the agent was down
    await env.agent.start()
    row = env.conductor.rows[inst["uuid"]]
    assert row["vm_state"] == "error" and row["task_state"] is None
    assert "has no guest on testhost" in env.conductor.faults[inst["uuid"]]["message"]


async def test_restart_clears_interrupted_tasks_from_the_guest_state(env):  # noqa: F811
    rebooting, stopping, shelved = (make_instance(env.image_id) for _ in range(3))
    for inst in (rebooting, stopping, shelved):
        await env.build(inst)
    env.conductor.rows[rebooting["uuid"]]["task_state"] = "rebooting"
    env.conductor.rows[stopping["uuid"]]["task_state"] = "powering-off"
    guest_of(env, stopping)["power_state"] = base.SHUTDOWN
    env.conductor.rows[shelved["uuid"]].update(vm_state="shelved", task_state="shelving_image_uploading")
    guest_of(env, shelved)["power_state"] = base.SHUTDOWN
    await restart(env)
    states = {k: (env.conductor.rows[i["uuid"]]["vm_state"], env.conductor.rows[i["uuid"]]["task_state"],
                  env.conductor.rows[i["uuid"]]["power_state"])
              for k, i in (("rebooting", rebooting), ("stopping", stopping), ("shelved", shelved))}
    assert states == {"rebooting": ("active", None, base.RUNNING),
                      "stopping": ("stopped", None, base.SHUTDOWN),
                      "shelved": ("shelved", None, base.SHUTDOWN)}
    assert env.conductor.faults == {}


async def test_restart_undoes_an_interrupted_build(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    port_ids = set(env.network.ports)
    assert port_ids
    env.conductor.rows[inst["uuid"]].update(vm_state="building", task_state="spawning")  # agent died here
    await restart(env)
    row = env.conductor.rows[inst["uuid"]]
    assert row["vm_state"] == "error" and row["task_state"] is None and row["network_info"] == []
    assert "interrupted by a restart" in env.conductor.faults[inst["uuid"]]["message"]
    assert inst["uuid"] not in env.driver.guests
    assert not (env.instances_dir / inst["uuid"]).exists()
    assert not port_ids & set(env.network.ports)  # the agent-created port is deleted


async def test_restart_finishes_an_interrupted_delete(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    env.conductor.rows[inst["uuid"]]["task_state"] = "deleting"
    await restart(env)
    assert env.conductor.destroyed == [inst["uuid"]]
    assert inst["uuid"] not in env.driver.guests and not (env.instances_dir / inst["uuid"]).exists()


async def test_delete_removes_the_guest_disks_and_directory(env):  # noqa: F811
    inst = make_instance(env.image_id, flavor={"id": "2", "name": "eph", "vcpus": 1, "ram": 128, "disk": 1,
                                               "ephemeral": 1, "swap": 16, "extra_specs": {}})
    await env.build(inst)
    disk_dir = env.instances_dir / inst["uuid"]
    assert {p.name for p in disk_dir.iterdir()} >= {"disk", "disk.local", "disk.swap"}
    await env.terminate(inst)
    assert not disk_dir.exists() and inst["uuid"] not in env.driver.guests
    assert env.conductor.destroyed == [inst["uuid"]]


# -- image cache -------------------------------------------------------------------------
async def test_image_cache_counts_users_and_ages_only_unused_images(env):  # noqa: F811
    other = env.images.add(bootable_raw(2 * 1024 * 1024))
    a, b, c = make_instance(env.image_id), make_instance(env.image_id), make_instance(other)
    for inst in (a, b, c):
        await env.build(inst)
    manager = env.agent.manager
    assert manager.images.usage() == {env.image_id: 2, other: 1}
    await env.terminate(c)
    assert manager.images.usage() == {env.image_id: 2, other: 0}

    now = time.time()
    assert await manager.age_image_cache(now=now + 60) == []  # unused, but used a minute ago
    assert await manager.age_image_cache(now=now + DAY + 60) == [other]
    assert manager.images.cached() == [env.image_id]  # in use: never removed
    assert await manager.age_image_cache(now=now + 10 * DAY) == []
    assert env.images.downloads.count(other) == 1


async def test_image_cache_keeps_the_image_of_a_build_without_disks_yet(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    await env.terminate(inst)
    building = make_instance(env.image_id, vm_state="building", task_state="spawning")
    env.conductor.rows[building["uuid"]] = dict(building)
    assert env.agent.manager.images.usage([building]) == {env.image_id: 1}
    now = time.time()
    assert await env.agent.manager.age_image_cache(now=now + 2 * DAY) == []  # in use: touched then
    del env.conductor.rows[building["uuid"]]
    assert await env.agent.manager.age_image_cache(now=now + 3 * DAY - 60) == []
    assert await env.agent.manager.age_image_cache(now=now + 3 * DAY + 60) == [env.image_id]
    # the next build downloads it again
    again = make_instance(env.image_id)
    row = await env.build(again)
    assert row["vm_state"] == "active" and env.images.downloads.count(env.image_id) == 2


async def test_image_cache_ageing_needs_the_conductor(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    await env.terminate(inst)
    await env.rt.bus.unserve(env.conductor)
    assert await env.agent.manager.age_image_cache(now=time.time() + 2 * DAY) == []
    assert env.agent.manager.images.cached() == [env.image_id]


async def test_image_cache_max_age_setting(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    await env.terminate(inst)
    env.rt.settings.compute.image_cache_max_age = 10
    assert await env.agent.manager.age_image_cache(now=time.time() + 5) == []
    assert await env.agent.manager.age_image_cache(now=time.time() + 20) == [env.image_id]


# -- behind the real compute API and conductor ---------------------------------------------
async def test_real_conductor_power_sync_and_restart(cloud):  # noqa: F811
    image_id = cloud.images.add(bootable_raw())
    ids = []
    for name in ("off", "gone"):
        r = await cloud.demo.post("/v2.1/servers", json={"server": {
            "name": name, "imageRef": image_id, "flavorRef": "1", "networks": [{"uuid": NET_ID}]}})
        assert r.status_code == 202, r.text
        ids.append(r.json()["server"]["id"])
    await cloud.rt.bus.drain()
    for server_id in ids:
        await wait_for_status(cloud.demo, server_id, "ACTIVE")
    off, gone = ids
    records = await cloud.rt.bus.call("conductor", "host_instances", host="testhost", uuids=[])
    assert {r["uuid"] for r in records} == set(ids) and not any(r["deleted"] for r in records)

    cloud.agent.driver.guests[off]["power_state"] = base.SHUTDOWN  # `poweroff` in the guest
    assert await cloud.agent.manager.sync_power_states() == 1
    server = await wait_for_status(cloud.demo, off, "SHUTOFF")
    assert server["OS-EXT-STS:power_state"] == base.SHUTDOWN and server["OS-EXT-STS:task_state"] is None

    await cloud.agent.stop()
    del cloud.agent.driver.guests[gone]
    await cloud.agent.start()
    r = await cloud.admin.get(f"/v2.1/servers/{gone}")
    assert r.json()["server"]["status"] == "ERROR"
    assert "has no guest on testhost" in r.json()["server"]["fault"]["message"]
    assert (await cloud.demo.get(f"/v2.1/servers/{off}")).json()["server"]["status"] == "SHUTOFF"

    # a deleted instance is still named when asked for by uuid
    r = await cloud.demo.delete(f"/v2.1/servers/{off}")
    assert r.status_code == 204
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, off, "DELETED")
    records = await cloud.rt.bus.call("conductor", "host_instances", host="testhost", uuids=[off])
    assert {r["uuid"]: r["deleted"] for r in records} == {off: True, gone: False}


async def test_restart_leaves_guests_of_instances_placed_elsewhere(env):  # noqa: F811
    inst = make_instance(env.image_id)
    await env.build(inst)
    env.conductor.rows[inst["uuid"]]["host"] = "otherhost"  # e.g. this host was renamed
    await restart(env)
    assert inst["uuid"] in env.driver.guests and (env.instances_dir / inst["uuid"] / "disk").exists()
    assert await env.agent.manager.reconcile() == [inst["instance_name"]]
