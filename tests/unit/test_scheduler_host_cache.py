"""The scheduler's cached host states (kumo.compute.scheduler.manager.HostStateCache): a stale
copy never over-commits or picks a disabled host (the claim checks fresh rows), and capacity
freed since the last read is found before the scheduler gives up."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from kumo.common.db import utcnow
from kumo.compute.models import ComputeNode, Instance, Service, open_database
from kumo.compute.scheduler.manager import Scheduler

SMALL = {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0}
SETTINGS = SimpleNamespace(compute=SimpleNamespace(ram_allocation_ratio=1.0, cpu_allocation_ratio=1.0,
                                                   disk_allocation_ratio=1.0, reserved_host_memory_mb=0))


class Bus:
    def __init__(self):
        self.casts = []

    async def cast(self, topic, method, /, **kwargs):
        self.casts.append((topic, kwargs["instance"]["uuid"]))

    async def notify(self, event, payload):
        pass


@pytest.fixture
async def sched(tmp_path):
    db = open_database(f"sqlite+aiosqlite:///{tmp_path}/compute.db")
    await db.create_schema()
    async with db.session() as s:  # two nodes with room for two SMALL each
        for name in ("h1", "h2"):
            s.add(ComputeNode(host=name, hypervisor_hostname=name, vcpus=2, memory_mb=1024, local_gb=10))
            s.add(Service(host=name, binary="nova-compute", updated_at=utcnow()))
    scheduler = Scheduler(db, Bus(), SETTINGS)
    scheduler.hosts.ttl = 3600  # never expires by itself in these tests
    yield scheduler
    await db.close()


async def boot(sched, name):
    async with sched.db.session() as s:
        s.add(Instance(uuid=name, display_name=name, hostname=name, project_id="p", user_id="u",
                       flavor_id="1", flavor=SMALL, vm_state="building", task_state="scheduling"))
    await sched.schedule_instance(name)
    async with sched.db.session() as s:
        inst = (await s.execute(select(Instance).where(Instance.uuid == name))).scalar_one()
        return inst.host, inst.vm_state


async def test_own_claims_spread_and_fill_without_rereading(sched):
    placed = [await boot(sched, f"i{n}") for n in range(4)]
    assert sorted(h for h, _ in placed) == ["h1", "h1", "h2", "h2"]
    assert await boot(sched, "i5") == (None, "error")  # full: NoValidHost after a fresh read


async def test_claims_by_another_scheduler_are_not_overcommitted(sched):
    await sched.hosts.get(sched.db)  # cached: both nodes empty
    other = Scheduler(sched.db, Bus(), SETTINGS)
    for n in range(4):  # another scheduler fills both nodes
        assert (await boot(other, f"o{n}"))[1] == "building"
    assert await boot(sched, "late") == (None, "error")
    async with sched.db.session() as s:
        for name in ("h1", "h2"):
            count = (await s.execute(select(Instance).where(Instance.host == name))).scalars().all()
            assert len(count) == 2


async def test_a_service_disabled_after_the_read_is_not_chosen(sched):
    await sched.hosts.get(sched.db)
    async with sched.db.session() as s:
        await s.execute(update(Service).where(Service.host == "h1").values(disabled=True))
    assert [await boot(sched, f"i{n}") for n in range(3)] == [("h2", "building"), ("h2", "building"),
                                                                (None, "error")]


async def test_capacity_freed_after_the_read_is_found(sched):
    for n in range(4):
        await boot(sched, f"i{n}")
    async with sched.db.session() as s:  # one server deleted (its claim goes with it)
        await s.execute(update(Instance).where(Instance.uuid == "i0").values(deleted=True))
    host, state = await boot(sched, "again")
    assert state == "building" and host is not None
