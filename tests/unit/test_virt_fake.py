"""The fake driver: in-memory guests, no host side effects."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kumo.compute.virt import base, load_driver
from kumo.compute.virt.fake import FakeDriver

INST = {"uuid": "u-1", "instance_name": "instance-00000001", "flavor": {"ram": 64, "vcpus": 1}}


@pytest.fixture
async def driver():
    d = FakeDriver()
    await d.init_host("node1")
    return d


def paths(tmp_path):
    return base.InstancePaths(tmp_path, INST["uuid"])


async def test_spawn_list_destroy(driver, tmp_path):
    await driver.spawn(INST, [{"port_id": "p"}], paths(tmp_path), {"vda": Path("/x/disk")})
    assert await driver.list_instances() == [{"name": "instance-00000001", "uuid": "u-1",
                                              "power_state": base.RUNNING}]
    assert await driver.power_state(INST) == base.RUNNING
    assert list(tmp_path.iterdir()) == []  # nothing written to the host
    await driver.destroy(INST)
    assert await driver.list_instances() == []
    assert await driver.power_state(INST) == base.NOSTATE
    await driver.destroy(INST)  # a missing guest is fine


async def test_spawn_twice_fails(driver, tmp_path):
    await driver.spawn(INST, [], paths(tmp_path), {})
    with pytest.raises(base.VirtError):
        await driver.spawn(INST, [], paths(tmp_path), {})


async def test_injected_spawn_failure(driver, tmp_path):
    driver.fail_spawn = "no room"
    with pytest.raises(base.VirtError, match="no room"):
        await driver.spawn(INST, [], paths(tmp_path), {})
    assert driver.guests == {}


async def test_console_output_and_tail(driver, tmp_path):
    await driver.spawn(INST, [], paths(tmp_path), {})
    log = await driver.get_console_output(INST)
    assert log.startswith("fake console for instance-00000001\n") and len(log.split("\n")) == 6
    # the last N lines, the prompt without a newline (Tempest counts output.split("\n"))
    assert await driver.get_console_output(INST, 3) == "Starting dropbear sshd: OK\n\ninstance-00000001 login: "
    assert await driver.get_console_output(INST, 0) == ""
    with pytest.raises(base.InstanceNotFound):
        await driver.get_console_output({"uuid": "other"})


async def test_power_cycle(driver, tmp_path):
    await driver.spawn(INST, [], paths(tmp_path), {})
    await driver.power_off(INST)
    assert await driver.power_state(INST) == base.SHUTDOWN
    await driver.power_on(INST)
    assert await driver.power_state(INST) == base.RUNNING
    with pytest.raises(base.InstanceNotFound):
        await driver.reboot({"uuid": "missing"})


async def test_host_stats_shape(driver):
    stats = await driver.host_stats()
    assert stats["hypervisor_type"] == "QEMU"
    assert stats["hypervisor_hostname"] == "node1"
    for key in ("vcpus", "memory_mb", "local_gb", "hypervisor_version"):
        assert isinstance(stats[key], int) and stats[key] > 0
    assert json.loads(stats["cpu_info"])["arch"] == "x86_64"


def test_tail_lines():
    text = "a\nb\nc\n"
    assert base.tail_lines(text, None) == text
    assert base.tail_lines(text, 2) == "b\nc\n"
    assert base.tail_lines(text, 10) == text
    assert base.tail_lines(text, -1) == ""


def test_load_driver(settings):
    assert isinstance(load_driver(settings), FakeDriver)
    settings.compute.driver = "libvirt"
    from kumo.compute.virt.libvirt.driver import LibvirtDriver
    drv = load_driver(settings)
    assert isinstance(drv, LibvirtDriver) and drv.uri == "qemu:///system"
    settings.compute.driver = "vmware"
    with pytest.raises(ValueError):
        load_driver(settings)


def test_instance_paths(tmp_path):
    p = base.InstancePaths(tmp_path, "abc")
    assert p.dir == tmp_path / "abc"
    assert (p.disk.name, p.disk_local.name, p.disk_swap.name, p.console_log.name) == \
        ("disk", "disk.local", "disk.swap", "console.log")


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden"])
def test_instance_paths_refuse_path_tricks(tmp_path, bad):
    with pytest.raises(ValueError):
        base.InstancePaths(tmp_path, bad)
