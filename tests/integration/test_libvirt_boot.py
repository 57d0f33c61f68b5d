"""Integration: the compute agent boots the kumo cirros image with the real libvirt driver.

The agent runs with ``[compute] driver = libvirt`` (virt_type auto -> qemu/TCG
here) against in-process fakes of the conductor, image and network APIs
(from tests/api/test_compute_agent.py). The port is bound to a test bridge
``kumotst2``. The test checks that the domain runs, that its tap sits on the
bridge and that the serial console log fills with boot lines within 90 s;
then it terminates the instance and checks that nothing is left: no domain,
no tap, no instance directory. The instance has a config drive (IDE CD-ROM)
and a swap disk, so libvirt accepts those parts of the XML too. A second test makes libvirt refuse to start a
domain and checks the definition is gone again.

Needs root; skipped only when not root or libvirtd cannot be reached/started
(:func:`kumo.compute.virt.libvirt.host.ensure_libvirtd` starts it). The image
is ``build/cirros.qcow2``, built with images/cirros/build.sh when missing.
Everything it creates is removed in ``finally`` blocks, also on failure.
"""
from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from kumo.compute import agent as compute_agent
from kumo.compute.virt.base import InstancePaths, VirtError
from kumo.compute.virt.libvirt.host import LibvirtUnavailable, ensure_libvirtd
from tests.api.test_compute_agent import (NET_ID, FakeConductor, FakeImageAPI, FakeNetworkAPI,
                                          make_instance, wait_until)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (libvirtd, bridges, taps)")]

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "build" / "cirros.qcow2"
BRIDGE = "kumotst2"
BOOT_MARKERS = ("Linux version", "kumo-cirros")


@pytest.fixture(scope="module")
def libvirtd():
    try:
        ensure_libvirtd()
    except LibvirtUnavailable as e:
        pytest.skip(f"libvirtd is not reachable: {e}")
    import libvirt
    conn = libvirt.open("qemu:///system")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def cirros() -> Path:
    subprocess.run([str(REPO / "images" / "cirros" / "build.sh"), str(IMAGE)], check=True, timeout=1800)
    return IMAGE


@pytest.fixture
def instances_dir():
    # Not under pytest's tmp_path: that is 0700 and the qemu user must reach the disks.
    path = Path(tempfile.mkdtemp(prefix="kumo-libvirt-test-", dir="/var/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def bridge():
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
    try:
        yield BRIDGE
    finally:
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def domain_of(conn, uuid: str):
    import libvirt
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError:
        return None


def force_remove(conn, uuid: str) -> None:
    dom = domain_of(conn, uuid)
    if dom is None:
        return
    try:
        if dom.isActive():
            dom.destroy()
    finally:
        dom.undefine()


async def test_boot_console_and_terminate(libvirtd, cirros, instances_dir, bridge, rt, router, mount):
    settings = rt.settings
    settings.compute.driver = "libvirt"
    settings.compute.virt_type = "auto"
    settings.compute.instances_dir = str(instances_dir)

    conductor, network, images = FakeConductor(), FakeNetworkAPI(), FakeImageAPI()
    network.vif_details = {"bridge_name": BRIDGE}
    router.add(settings.endpoint("network"), network.app)
    router.add(settings.endpoint("image"), images.app)
    await rt.bus.serve("conductor", conductor)
    image_id = images.add(cirros.read_bytes(), disk_format="qcow2")
    inst = make_instance(image_id, config_drive=True)
    inst["flavor"].update(ram=256, disk=1, swap=16)
    uuid = inst["uuid"]
    try:
        agent = await mount(compute_agent.component)
        assert agent.driver.virt_type == "qemu"  # no vmx/svm on this host

        conductor.rows[uuid] = dict(inst)
        await rt.bus.cast(f"compute.{settings.common.host}", "build_instance", instance=inst)
        await rt.bus.drain()
        row = conductor.rows[uuid]
        assert conductor.faults == {}, conductor.faults
        assert row["vm_state"] == "active" and row["power_state"] == 1

        dom = domain_of(libvirtd, uuid)
        assert dom is not None and dom.isActive()
        assert dom.name() == inst["instance_name"]
        xml = dom.XMLDesc(0)
        assert "disk.config" in xml and "device='cdrom'" in xml and "disk.swap" in xml
        vif = row["network_info"][0]
        assert vif["bridge"] == BRIDGE and vif["network_id"] == NET_ID
        tap = vif["devname"]
        assert Path(f"/sys/class/net/{tap}/master").resolve().name == BRIDGE

        console = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            console = await rt.bus.call(f"compute.{settings.common.host}", "get_console_output",
                                        instance=row, length=None)
            if any(marker in console for marker in BOOT_MARKERS):
                break
            await asyncio.sleep(1)
        assert any(marker in console for marker in BOOT_MARKERS), console[-2000:]
        assert (instances_dir / uuid / "console.log").exists()
        tail = await rt.bus.call(f"compute.{settings.common.host}", "get_console_output",
                                 instance=row, length=3)
        assert len(tail.splitlines()) <= 3

        await rt.bus.cast(f"compute.{settings.common.host}", "terminate_instance", instance=row)
        await rt.bus.drain()
        await wait_until(lambda: conductor.destroyed == [uuid])
        assert domain_of(libvirtd, uuid) is None
        assert not link_exists(tap)
        assert not (instances_dir / uuid).exists()
        assert network.ports == {}
        # the cached image stays for the next boot
        assert (instances_dir / "_base" / image_id).exists()
    finally:
        force_remove(libvirtd, uuid)


async def test_failed_start_leaves_no_definition(libvirtd, instances_dir):
    from kumo.compute.virt.libvirt.driver import LibvirtDriver

    driver = LibvirtDriver("qemu:///system", "qemu", instances_dir)
    await driver.init_host("testhost")
    inst = make_instance("no-image")
    paths = InstancePaths(instances_dir, inst["uuid"])
    paths.dir.mkdir()
    try:
        with pytest.raises(VirtError):
            # the root disk does not exist: libvirt refuses to start the domain
            await driver.spawn(inst, [], paths, {"vda": paths.disk})
        assert domain_of(libvirtd, inst["uuid"]) is None
        assert inst["instance_name"] not in libvirtd.listDefinedDomains()
    finally:
        force_remove(libvirtd, inst["uuid"])
        await driver.close()


def test_ensure_libvirtd_is_idempotent(libvirtd):
    ensure_libvirtd()  # both daemons answer: returns at once
    assert libvirtd.isAlive()
    assert Path("/var/log/libvirt").is_dir()
    pwd.getpwnam("libvirt-qemu")
    if Path("/dev/kvm").exists():
        # group kvm, as udev would set it (else libvirt re-probes QEMU on every define)
        assert os.stat("/dev/kvm").st_gid == grp.getgrnam("kvm").gr_gid
