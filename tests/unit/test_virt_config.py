"""The libvirt domain XML, parsed back element by element."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kumo.compute.virt.libvirt import config

UUID = "6f2d7c1e-3f0a-4b8e-9d55-0a1b2c3d4e5f"


def instance(**over):
    inst = {"uuid": UUID, "id": 7, "instance_name": "instance-00000007", "display_name": "web1",
            "hostname": "web1", "project_id": "p1", "user_id": "u1", "host": "node1", "node": "node1",
            "flavor": {"id": "1", "name": "m1.tiny", "vcpus": 2, "ram": 512, "disk": 1, "ephemeral": 0,
                       "swap": 0, "extra_specs": {}},
            "image_ref": "img-1", "network_info": [], "vm_state": "building", "task_state": "spawning"}
    inst.update(over)
    return inst


VIFS = [{"port_id": "0123456789abcdef", "network_id": "net1", "network_name": "private",
         "mac_address": "fa:16:3e:11:22:33", "fixed_ips": [], "vif_type": "bridge",
         "bridge": "brqnet1", "devname": "tap0123456789a", "created_port": True},
        {"port_id": "fedcba9876543210", "network_id": "net2", "network_name": "public",
         "mac_address": "fa:16:3e:44:55:66", "fixed_ips": [], "vif_type": "bridge",
         "bridge": "br-ex", "devname": "tapfedcba98765", "created_port": False, "mtu": 1450}]


def build(virt_type="qemu", disks=None, vifs=VIFS, **kw):
    disks = disks or {"vda": Path("/inst/x/disk")}
    xml = config.domain_xml(instance(), vifs, disks, Path("/inst/x/console.log"), virt_type, **kw)
    return ET.fromstring(xml)


def test_identity_memory_vcpus():
    dom = build()
    assert dom.get("type") == "qemu"
    assert dom.findtext("name") == "instance-00000007"
    assert dom.findtext("uuid") == UUID
    mem = dom.find("memory")
    assert (mem.text, mem.get("unit")) == ("512", "MiB")
    assert dom.findtext("vcpu") == "2"


def test_os_features_clock():
    dom = build()
    os_type = dom.find("os/type")
    assert os_type.text == "hvm" and os_type.get("machine") == "pc"
    assert dom.find("os/boot").get("dev") == "hd"
    assert dom.find("features/acpi") is not None and dom.find("features/apic") is not None
    assert dom.find("clock").get("offset") == "utc"
    # TCG keeps qemu's default CPU model
    assert dom.find("cpu") is None


def test_sysinfo_says_openstack_for_cloud_init():
    dom = build()
    entries = {e.get("name"): e.text for e in dom.findall("sysinfo/system/entry")}
    assert entries["product"] == "OpenStack Compute"
    assert entries["uuid"] == UUID
    assert dom.find("os/smbios").get("mode") == "sysinfo"


def test_kvm_uses_host_model_and_cache_none():
    dom = build("kvm")
    assert dom.get("type") == "kvm"
    assert dom.find("cpu").get("mode") == "host-model"
    assert dom.find("devices/disk/driver").get("cache") == "none"


def test_tcg_disk_is_qcow2_virtio_writeback():
    disk = build().find("devices/disk")
    assert disk.get("type") == "file" and disk.get("device") == "disk"
    driver = disk.find("driver")
    assert (driver.get("name"), driver.get("type"), driver.get("cache")) == ("qemu", "qcow2", "writeback")
    assert disk.find("source").get("file") == "/inst/x/disk"
    target = disk.find("target")
    assert (target.get("dev"), target.get("bus")) == ("vda", "virtio")


def test_extra_disks_are_raw_in_device_order():
    disks = {"vdc": Path("/i/disk.swap"), "vda": Path("/i/disk"), "vdb": Path("/i/disk.local")}
    found = [(d.find("target").get("dev"), d.find("driver").get("type"), d.find("source").get("file"))
             for d in build(disks=disks).findall("devices/disk")]
    assert found == [("vda", "qcow2", "/i/disk"), ("vdb", "raw", "/i/disk.local"),
                     ("vdc", "raw", "/i/disk.swap")]


def test_interfaces():
    ifaces = build().findall("devices/interface")
    assert len(ifaces) == 2
    first, second = ifaces
    assert first.get("type") == "bridge"
    assert first.find("mac").get("address") == "fa:16:3e:11:22:33"
    assert first.find("source").get("bridge") == "brqnet1"
    assert first.find("target").get("dev") == "tap0123456789a"
    assert first.find("model").get("type") == "virtio"
    assert first.find("mtu") is None
    assert second.find("source").get("bridge") == "br-ex"
    assert second.find("mtu").get("size") == "1450"


def test_no_interfaces_without_network_info():
    assert build(vifs=[]).findall("devices/interface") == []


def test_serial_console_logs_to_file_and_vnc_on_localhost():
    devices = build().find("devices")
    serial = devices.find("serial")
    assert serial.find("log").get("file") == "/inst/x/console.log"
    assert serial.find("target").get("port") == "0"
    assert devices.find("console/target").get("type") == "serial"
    graphics = devices.find("graphics")
    assert graphics.get("type") == "vnc" and graphics.get("autoport") == "yes"
    assert graphics.find("listen").get("address") == "127.0.0.1"
    assert devices.find("memballoon").get("model") == "virtio"


def test_metadata_names_flavor_and_owner():
    ns = {"nova": config.NOVA_NS}
    meta = build().find("metadata/nova:instance", ns)
    assert meta.findtext("nova:name", namespaces=ns) == "web1"
    assert meta.find("nova:flavor", ns).get("name") == "m1.tiny"
    assert meta.find("nova:owner/nova:project", ns).get("uuid") == "p1"


def test_rejects_unknown_virt_type():
    with pytest.raises(ValueError):
        build("xen")


def test_config_drive_is_a_readonly_ide_cdrom_and_root_stays_first_disk():
    dom = build(disks={"vda": Path("/i/disk"), "hda": Path("/i/disk.config")})
    disks = dom.findall("devices/disk")
    cdrom = [d for d in disks if d.get("device") == "cdrom"]
    assert len(cdrom) == 1
    assert cdrom[0].find("target").get("dev") == "hda" and cdrom[0].find("target").get("bus") == "ide"
    assert cdrom[0].find("driver").get("type") == "raw"
    assert cdrom[0].find("readonly") is not None
    assert cdrom[0].find("source").get("file") == "/i/disk.config"
    hard = [d for d in disks if d.get("device") == "disk"]
    assert [d.find("target").get("dev") for d in hard] == ["vda"]
