"""The libvirt driver against libvirt's built-in test hypervisor (``test:///default``).

No daemon and no QEMU: the test driver keeps domains in memory, which is
enough to check the driver's calls (define/start/stop/undefine, states,
host stats, the console log reader).
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

libvirt = pytest.importorskip("libvirt")

from kumo.compute.virt import base  # noqa: E402
from kumo.compute.virt.libvirt.driver import LibvirtDriver, supports_direct_io  # noqa: E402


def instance():
    u = str(uuid.uuid4())
    return {"uuid": u, "instance_name": "instance-%08x" % (uuid.UUID(u).int % 2**32), "display_name": "t",
            "project_id": "p", "user_id": "u", "image_ref": "img",
            "flavor": {"name": "m1", "ram": 64, "vcpus": 1, "disk": 1, "ephemeral": 0, "swap": 0},
            "network_info": []}


@pytest.fixture
async def driver(tmp_path):
    d = LibvirtDriver("test:///default", "auto", tmp_path)
    await d.init_host("node1")
    yield d
    await d.close()


async def spawn(driver, tmp_path, inst):
    paths = base.InstancePaths(tmp_path, inst["uuid"])
    paths.dir.mkdir()
    await driver.spawn(inst, [], paths, {"vda": paths.disk})
    return paths


async def test_auto_virt_type_is_qemu_here(driver):
    assert driver.virt_type == "qemu"


async def test_spawn_defines_and_starts(driver, tmp_path):
    inst = instance()
    await spawn(driver, tmp_path, inst)
    try:
        assert await driver.power_state(inst) == base.RUNNING
        names = {g["uuid"]: g["name"] for g in await driver.list_instances()}
        assert names[inst["uuid"]] == inst["instance_name"]
        conn = libvirt.open("test:///default")
        dom = conn.lookupByUUIDString(inst["uuid"])
        assert dom.isPersistent() and dom.isActive()
        assert "<source file=\"%s\"" % (tmp_path / inst["uuid"] / "disk") in dom.XMLDesc(0).replace("'", '"')
    finally:
        await driver.destroy(inst)


async def test_spawn_refuses_an_existing_domain(driver, tmp_path):
    inst = instance()
    paths = await spawn(driver, tmp_path, inst)
    try:
        with pytest.raises(base.VirtError, match="already exists"):
            await driver.spawn(inst, [], paths, {"vda": paths.disk})
    finally:
        await driver.destroy(inst)


async def test_destroy_removes_the_domain_and_is_idempotent(driver, tmp_path):
    inst = instance()
    await spawn(driver, tmp_path, inst)
    await driver.destroy(inst)
    assert await driver.power_state(inst) == base.NOSTATE
    assert inst["uuid"] not in {g["uuid"] for g in await driver.list_instances()}
    await driver.destroy(inst)


async def test_power_off_on_and_hard_reboot(driver, tmp_path):
    inst = instance()
    await spawn(driver, tmp_path, inst)
    try:
        await driver.power_off(inst)
        assert await driver.power_state(inst) == base.SHUTDOWN
        await driver.power_on(inst)
        assert await driver.power_state(inst) == base.RUNNING
        await driver.reboot(inst, hard=True)
        assert await driver.power_state(inst) == base.RUNNING
    finally:
        await driver.destroy(inst)
    with pytest.raises(base.InstanceNotFound):
        await driver.power_on(inst)


async def test_console_output_reads_the_log_tail(driver, tmp_path):
    inst = instance()
    paths = await spawn(driver, tmp_path, inst)
    try:
        assert await driver.get_console_output(inst) == ""
        paths.console_log.write_text("".join(f"line {i}\n" for i in range(200)))
        assert await driver.get_console_output(inst, 2) == "line 198\nline 199\n"
        paths.console_log.write_bytes(b"x" * (base.MAX_CONSOLE_BYTES + 500) + b"\nend\n")
        out = await driver.get_console_output(inst)
        assert len(out) <= base.MAX_CONSOLE_BYTES and out.endswith("end\n")
    finally:
        await driver.destroy(inst)
    with pytest.raises(base.InstanceNotFound):
        await driver.get_console_output(instance())


async def test_host_stats(driver):
    stats = await driver.host_stats()
    conn = libvirt.open("test:///default")
    info = conn.getInfo()
    assert stats["memory_mb"] == info[1] and stats["vcpus"] == info[2]
    assert stats["hypervisor_type"] == "QEMU"
    assert isinstance(stats["hypervisor_version"], int)
    assert stats["local_gb"] >= 0
    assert set(json.loads(stats["cpu_info"])) >= {"arch", "model", "vendor", "topology", "features"}


async def test_unreachable_libvirt_is_a_virt_error(tmp_path):
    d = LibvirtDriver("qemu+unix:///system?socket=/nonexistent/sock", "qemu", tmp_path)
    with pytest.raises(base.VirtError, match="Cannot connect to libvirt"):
        await d.init_host("node1")


def test_supports_direct_io_probe_leaves_nothing(tmp_path):
    assert supports_direct_io(tmp_path) in (True, False)
    assert list(Path(tmp_path).iterdir()) == []



class RecordingDomain:
    """A domain whose device calls edit its XML (test:///default cannot hot-plug)."""

    def __init__(self, active=True):
        self.active, self.calls = active, []
        self.live = self.persistent = "<domain><devices></devices></domain>"

    def isActive(self):
        return self.active

    def XMLDesc(self, flags):
        return self.persistent if flags & libvirt.VIR_DOMAIN_XML_INACTIVE else self.live

    def _edit(self, flags, change):
        if flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
            self.live = change(self.live)
        if flags & libvirt.VIR_DOMAIN_AFFECT_CONFIG:
            self.persistent = change(self.persistent)

    def attachDeviceFlags(self, xml, flags):
        self.calls.append(("attach", flags))
        self._edit(flags, lambda doc: doc.replace("</devices>", xml + "</devices>"))

    def detachDeviceFlags(self, xml, flags):
        self.calls.append(("detach", flags))
        self._edit(flags, lambda doc: doc.replace(xml, ""))


async def test_attach_and_detach_interface(driver, monkeypatch):
    plugged = []

    async def plug(vif):  # no host bridges in unit tests
        plugged.append(vif["bridge"])
    dom = RecordingDomain()

    async def domain(inst):
        return dom
    monkeypatch.setattr("kumo.compute.virt.libvirt.vif.plug", plug)
    monkeypatch.setattr(driver, "_domain", domain)
    inst = instance()
    vif = {"port_id": "p1", "mac_address": "fa:16:3e:12:34:56", "bridge": "brq12345678901",
           "devname": "tap12345678901", "mtu": 1450}
    both = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
    await driver.attach_interface(inst, vif)
    for xml in (dom.live, dom.persistent):  # live and persistent, the domain XML's element
        assert 'address="fa:16:3e:12:34:56"' in xml and 'bridge="brq12345678901"' in xml
        assert 'type="bridge"' in xml and 'dev="tap12345678901"' in xml
    assert plugged == ["brq12345678901"] and dom.calls == [("attach", both)]
    await driver.detach_interface(inst, vif, wait=1)
    assert "fa:16:3e" not in dom.live + dom.persistent and dom.calls[-1] == ("detach", both)
    await driver.detach_interface(inst, vif, wait=1)  # already gone: nothing to do
    assert len(dom.calls) == 2
    dom.active = False  # a stopped guest: only its definition changes
    await driver.attach_interface(inst, vif)
    assert dom.calls[-1] == ("attach", libvirt.VIR_DOMAIN_AFFECT_CONFIG) and "fa:16:3e" not in dom.live
