"""Start-up reconcile and power-state sync of the compute agent on libvirt's built-in test
hypervisor (``test:///default``: domains in memory, no daemon, no QEMU) with a fake conductor."""
from __future__ import annotations

import uuid

import pytest

libvirt = pytest.importorskip("libvirt")

from kumo.compute.agent.manager import ComputeManager  # noqa: E402
from kumo.compute.virt import base, load_driver  # noqa: E402
from tests.api.test_compute_agent import FakeConductor  # noqa: E402


def instance(**over):
    u = str(uuid.uuid4())
    inst = {"uuid": u, "instance_name": "instance-%08x" % (uuid.UUID(u).int % 2**32), "display_name": "t",
            "project_id": "p", "user_id": "u", "image_ref": "img", "host": "testhost",
            "flavor": {"name": "m1", "ram": 64, "vcpus": 1, "disk": 1, "ephemeral": 0, "swap": 0},
            "network_info": [], "vm_state": "active", "task_state": None, "power_state": base.RUNNING}
    inst.update(over)
    return inst


@pytest.fixture
async def manager(rt):
    rt.settings.compute.driver = "libvirt"
    rt.settings.compute.libvirt_uri = "test:///default"
    conductor = FakeConductor()
    await rt.bus.serve("conductor", conductor)
    m = ComputeManager(rt, load_driver(rt.settings))
    m.conductor = conductor
    await m.driver.init_host("testhost")
    m.instances_dir.mkdir(parents=True, exist_ok=True)
    yield m
    for guest in await m.driver.list_instances():
        if guest["name"].startswith("instance-"):
            await m.driver.destroy({"uuid": guest["uuid"], "instance_name": guest["name"]})
    await m.driver.close()


async def spawn(m, inst):
    paths = base.InstancePaths(m.instances_dir, inst["uuid"])
    paths.dir.mkdir()
    await m.driver.spawn(inst, [], paths, {"vda": paths.disk})
    return paths


async def test_virsh_destroy_makes_the_server_shutoff(manager):
    inst = instance()
    await spawn(manager, inst)
    manager.conductor.rows[inst["uuid"]] = dict(inst)
    assert await manager.sync_power_states() == 0
    libvirt.open("test:///default").lookupByUUIDString(inst["uuid"]).destroy()  # `virsh destroy`
    assert await manager.sync_power_states() == 1
    row = manager.conductor.rows[inst["uuid"]]
    assert (row["vm_state"], row["power_state"]) == ("stopped", base.SHUTDOWN)


async def test_reconcile_destroys_the_domain_of_a_deleted_instance(manager):
    live, deleted = instance(), instance(vm_state="deleted")
    for inst in (live, deleted):
        await spawn(manager, inst)
        manager.conductor.rows[inst["uuid"]] = dict(inst)
    assert await manager.reconcile() == []
    names = {g["uuid"] for g in await manager.driver.list_instances()}
    assert live["uuid"] in names and deleted["uuid"] not in names
    assert not (manager.instances_dir / deleted["uuid"]).exists()
    assert (manager.instances_dir / live["uuid"]).exists()
    assert manager.conductor.rows[live["uuid"]]["vm_state"] == "active"


async def test_lifecycle_event_triggers_the_power_sync(rt, router, mount):
    """A guest stopped behind kumo's back: the libvirt event wakes the sync long before its interval."""
    from kumo.compute import agent as compute_agent
    from tests.api.test_compute_agent import wait_until
    rt.settings.compute.driver = "libvirt"
    rt.settings.compute.libvirt_uri = "test:///default"
    rt.settings.compute.sync_power_state_interval = 3600
    conductor = FakeConductor()
    await rt.bus.serve("conductor", conductor)
    comp = await mount(compute_agent.component)
    inst = instance()
    try:
        await spawn(comp.manager, inst)
        conductor.rows[inst["uuid"]] = dict(inst)
        libvirt.open("test:///default").lookupByUUIDString(inst["uuid"]).destroy()
        await wait_until(lambda: conductor.rows[inst["uuid"]]["vm_state"] == "stopped", timeout=10)
        assert conductor.rows[inst["uuid"]]["power_state"] == base.SHUTDOWN
    finally:
        await comp.driver.destroy(inst)
