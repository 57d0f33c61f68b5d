"""Scheduler: capacity filters, weighing and the atomic claim."""
from __future__ import annotations

import pytest

from kumo.compute.models import ComputeNode, Instance, Service, open_database
from kumo.compute.scheduler.filters import HostState, Ratios, filter_hosts, fits, weigh
from kumo.compute.scheduler.manager import claim, host_states
from kumo.common.db import utcnow

R = Ratios(ram=1.5, cpu=16.0, disk=1.0, reserved_ram_mb=512)
SMALL = {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0}


def host(name="h1", **kw) -> HostState:
    values = dict(host=name, node=f"{name}.n", node_id=1, generation=0, vcpus=2, memory_mb=2048, local_gb=10)
    values.update(kw)
    return HostState(**values)


def test_ram_uses_ratio_and_reserved():
    # (2048 - 512) * 1.5 = 2304 MiB claimable
    assert fits(host(used_ram=1792), SMALL, R) is None
    assert fits(host(used_ram=1793), SMALL, R) == "RamFilter"


def test_vcpu_and_disk_filters():
    assert fits(host(used_vcpus=31), SMALL, R) is None
    assert fits(host(used_vcpus=32), SMALL, R) == "VCPUFilter"
    # disk counts root + ephemeral + swap rounded up to GiB
    flavor = {"vcpus": 1, "ram": 1, "disk": 8, "ephemeral": 1, "swap": 1}
    assert fits(host(used_disk=0), flavor, R) is None
    assert fits(host(used_disk=1), flavor, R) == "DiskFilter"


def test_filter_report_and_service_state():
    hosts = [host("up"), host("off", enabled=False), host("dead", up=False), host("full", used_ram=5000)]
    kept, report = filter_hosts(hosts, SMALL, R)
    assert [h.host for h in kept] == ["up"]
    assert "ComputeFilter removed 2" in report and "RamFilter removed 1" in report
    kept, _ = filter_hosts(hosts, SMALL, R, host="full")
    assert kept == []


def test_weigh_prefers_free_ram():
    ranked = weigh([host("a", used_ram=1000), host("b", used_ram=0), host("c", used_ram=500)], R)
    assert [h.host for h in ranked] == ["b", "c", "a"]


@pytest.fixture
async def db(tmp_path):
    database = open_database(f"sqlite+aiosqlite:///{tmp_path}/compute.db")
    await database.create_schema()
    async with database.session() as s:
        s.add(ComputeNode(host="h1", hypervisor_hostname="h1.n", vcpus=2, memory_mb=1280, local_gb=10))
        s.add(Service(host="h1", binary="nova-compute", updated_at=utcnow()))
    yield database
    await database.close()


async def add_instance(db, uuid: str) -> None:
    async with db.session() as s:
        s.add(Instance(uuid=uuid, display_name=uuid, hostname=uuid, project_id="p", user_id="u",
                       flavor_id="1", flavor=SMALL, vm_state="building", task_state="scheduling"))


async def states(db):
    async with db.session() as s:
        return await host_states(s)


async def test_claim_sets_host_and_bumps_generation(db):
    await add_instance(db, "i1")
    [target] = await states(db)
    assert await claim(db, "i1", SMALL, target, R) == "claimed"
    [after] = await states(db)
    assert after.generation == target.generation + 1 and after.used_ram == 512
    # the same instance cannot be claimed twice
    assert await claim(db, "i1", SMALL, after, R) == "gone"


async def test_stale_state_is_retried_not_overcommitted(db):
    # (1280 - 512) * 1.5 = 1152 MiB: two small instances fit, a third does not
    for name in ("i1", "i2", "i3"):
        await add_instance(db, name)
    [seen] = await states(db)  # all three schedulers read the same, empty node
    assert await claim(db, "i1", SMALL, seen, R) == "claimed"
    assert await claim(db, "i2", SMALL, seen, R) == "retry"  # generation moved on
    [fresh] = await states(db)
    assert await claim(db, "i2", SMALL, fresh, R) == "claimed"
    [fresh] = await states(db)
    assert await claim(db, "i3", SMALL, fresh, R) == "retry"  # does not fit any more
    [final] = await states(db)
    assert final.used_ram == 1024
