"""Stable device rescue: the rescue disk chosen from the rescue image's hw_rescue_device /
hw_rescue_bus, and the libvirt domain that boots it while the server's disks keep their place."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kumo.compute.agent.lifecycle import stable_rescue_device
from kumo.compute.virt import base
from kumo.compute.virt.libvirt import config
from tests.unit.test_virt_config import VIFS, instance

OWN = {"vda": Path("/i/disk"), "hda": Path("/i/disk.config")}


@pytest.mark.parametrize("props, expected", [
    ({"hw_rescue_bus": "virtio"}, {"target": "vdb", "bus": "virtio", "device": "disk"}),
    ({"hw_rescue_device": "disk", "hw_rescue_bus": "scsi"}, {"target": "sda", "bus": "scsi", "device": "disk"}),
    ({"hw_rescue_device": "disk", "hw_rescue_bus": "usb"}, {"target": "sda", "bus": "usb", "device": "disk"}),
    ({"hw_rescue_device": "cdrom"}, {"target": "hdb", "bus": "ide", "device": "cdrom"}),
    ({"hw_rescue_device": "disk"}, {"target": "vdb", "bus": "virtio", "device": "disk"}),
])
def test_rescue_device_from_image_properties(props, expected):
    assert stable_rescue_device(dict(props, id="img"), OWN) == expected


def test_legacy_rescue_and_bad_values():
    assert stable_rescue_device({"id": "img", "disk_format": "qcow2"}, OWN) is None
    for props in ({"hw_rescue_device": "floppy"}, {"hw_rescue_bus": "fdc"},
                  {"hw_rescue_device": "cdrom", "hw_rescue_bus": "virtio"}):
        with pytest.raises(base.VirtError):
            stable_rescue_device(props, OWN)


def _disks(xml):
    return [(d.find("target").get("dev"), d.find("target").get("bus"), d.get("device"),
             d.find("boot").get("order") if d.find("boot") is not None else None)
            for d in xml.findall("devices/disk")]


def test_stable_rescue_domain_boots_the_rescue_disk_on_its_bus():
    inst = dict(instance(), rescue_device={"target": "sda", "bus": "scsi", "device": "disk"})
    disks = dict(OWN, sda=Path("/i/disk.rescue"))
    xml = ET.fromstring(config.domain_xml(inst, VIFS, disks, Path("/i/console.log")))
    assert xml.find("os/boot") is None  # per-device boot order instead
    assert _disks(xml) == [("hda", "ide", "cdrom", None), ("sda", "scsi", "disk", "1"),
                           ("vda", "virtio", "disk", None)]
    assert xml.find("devices/controller[@type='scsi']").get("model") == "virtio-scsi"
    # a cdrom rescue is read-only
    inst = dict(instance(), rescue_device={"target": "hdb", "bus": "ide", "device": "cdrom"})
    xml = ET.fromstring(config.domain_xml(inst, VIFS, dict(OWN, hdb=Path("/i/disk.rescue")),
                                          Path("/i/console.log")))
    rescue, = [d for d in xml.findall("devices/disk") if d.find("target").get("dev") == "hdb"]
    assert rescue.find("readonly") is not None and rescue.find("driver").get("type") == "qcow2"
    # without a rescue device the domain boots from hd as before
    xml = ET.fromstring(config.domain_xml(instance(), VIFS, OWN, Path("/i/console.log")))
    assert xml.find("os/boot").get("dev") == "hd" and xml.find("devices/controller") is None
