"""Driver-level pieces of the lifecycle actions: the rescue domain's disk formats, the disk map
an agent rebuilds from an instance directory, and the fake driver's state rules."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kumo.compute.virt import base
from kumo.compute.virt.disk import existing_disks, rescue_disk
from kumo.compute.virt.fake import FakeDriver
from kumo.compute.virt.libvirt import config
from tests.unit.test_virt_config import VIFS, instance


def test_rescue_domain_keeps_the_servers_disk_qcow2_as_vdb():
    disks = {"vda": Path("/i/disk.rescue"), "vdb": Path("/i/disk"), "hda": Path("/i/disk.config")}
    xml = ET.fromstring(config.domain_xml(instance(), VIFS, disks, Path("/i/console.log")))
    found = [(d.find("target").get("dev"), d.find("driver").get("type"), d.get("device"))
             for d in xml.findall("devices/disk")]
    assert found == [("hda", "raw", "cdrom"), ("vda", "qcow2", "disk"), ("vdb", "qcow2", "disk")]


def test_domain_takes_the_flavor_it_is_given():
    inst = instance()
    inst["flavor"] = dict(inst["flavor"], ram=1024, vcpus=3)
    xml = ET.fromstring(config.domain_xml(inst, [], {"vda": Path("/i/disk")}, Path("/i/c.log")))
    assert (xml.findtext("memory"), xml.findtext("vcpu")) == ("1024", "3")


def test_existing_disks_follow_create_disks_order(tmp_path):
    paths = base.InstancePaths(tmp_path, "u-1")
    paths.dir.mkdir()
    for name in ("disk", "disk.swap", "disk.config"):
        (paths.dir / name).write_bytes(b"")
    assert existing_disks(paths) == {"vda": paths.disk, "vdb": paths.disk_swap, "hda": paths.dir / "disk.config"}
    paths.disk_local.write_bytes(b"")
    assert existing_disks(paths) == {"vda": paths.disk, "vdb": paths.disk_local, "vdc": paths.disk_swap,
                                     "hda": paths.dir / "disk.config"}
    assert rescue_disk(paths) == paths.dir / "disk.rescue"


INST = {"uuid": "u-1", "instance_name": "instance-00000001", "flavor": {"ram": 64, "vcpus": 1}}


async def test_fake_pause_suspend_and_redefine(tmp_path):
    driver = FakeDriver()
    paths = base.InstancePaths(tmp_path, INST["uuid"])
    await driver.spawn(INST, [], paths, {"vda": paths.disk})
    with pytest.raises(base.VirtError):
        await driver.unpause(INST)
    await driver.pause(INST)
    assert await driver.power_state(INST) == base.PAUSED
    with pytest.raises(base.VirtError):
        await driver.suspend(INST)  # only a running guest
    await driver.unpause(INST)
    await driver.suspend(INST)
    assert await driver.power_state(INST) == base.SUSPENDED
    await driver.resume(INST, [])
    assert await driver.power_state(INST) == base.RUNNING
    bigger = dict(INST, flavor={"ram": 128, "vcpus": 2})
    await driver.redefine(bigger, [], paths, {"vda": paths.dir / "disk.rescue", "vdb": paths.disk}, start=False)
    guest = driver.guests["u-1"]
    assert guest["flavor"] == {"ram": 128, "vcpus": 2} and guest["power_state"] == base.SHUTDOWN
    assert guest["disks"] == {"vda": str(paths.dir / "disk.rescue"), "vdb": str(paths.disk)}
    with pytest.raises(base.InstanceNotFound):
        await driver.pause({"uuid": "other"})


async def test_libvirt_pause_suspend_redefine_on_the_test_hypervisor(tmp_path):
    pytest.importorskip("libvirt")
    from tests.unit.test_virt_libvirt_driver import instance as libvirt_instance
    from tests.unit.test_virt_libvirt_driver import spawn
    from kumo.compute.virt.libvirt.driver import LibvirtDriver

    driver = LibvirtDriver("test:///default", "auto", tmp_path)
    await driver.init_host("node1")
    inst = libvirt_instance()
    try:
        paths = await spawn(driver, tmp_path, inst)
        await driver.pause(inst)
        assert await driver.power_state(inst) == base.PAUSED
        await driver.unpause(inst)
        assert await driver.power_state(inst) == base.RUNNING
        await driver.suspend(inst)
        assert await driver.power_state(inst) == base.SHUTDOWN  # managed save: the domain is off
        await driver.resume(inst, [])
        assert await driver.power_state(inst) == base.RUNNING
        bigger = dict(inst, flavor=dict(inst["flavor"], ram=128, vcpus=2))
        await driver.redefine(bigger, [], paths, {"vda": paths.disk}, start=False)
        dom = await driver._domain(inst)
        assert dom.maxMemory() == 128 * 1024 and not dom.isActive()
        await driver.redefine(inst, [], paths, {"vda": paths.disk}, start=True)
        assert dom.isActive() and dom.maxMemory() == 64 * 1024
        await driver.pause(inst)
        await driver.power_off(inst)  # a paused guest is stopped at once, not after the ACPI wait
        assert await driver.power_state(inst) == base.SHUTDOWN
    finally:
        await driver.destroy(inst)
        await driver.close()
