"""The libvirt domain XML of an instance (libvirt "Domain XML format").

:func:`domain_xml` builds, with :mod:`xml.etree.ElementTree`:

- ``<domain type="qemu|kvm">`` named ``instance_name`` with the instance uuid,
  the flavor's RAM (MiB) and vCPUs, nova-style ``<metadata>``;
- ``<sysinfo type="smbios">`` saying "OpenStack Compute" (cloud-init's
  OpenStack data source looks for it) and ``<os>`` hvm/pc booting from hd;
- ``<features>`` acpi + apic; ``<cpu mode="host-model">`` for kvm only (TCG
  keeps qemu's default model); ``<clock offset="utc">`` with nova's timers;
- one ``<disk>`` per file (qcow2 root, raw ephemeral/swap) on virtio, and
  the config drive (target ``hda``) as a read-only IDE CD-ROM;
- one bridge ``<interface>`` per network_info entry (mac, bridge, tap name, virtio);
- a pty ``<serial>`` whose output virtlogd copies to ``console.log``, the
  matching ``<console>``, VNC on ``vnc_listen`` (autoport), a virtio RNG and
  memballoon.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
PRODUCT = "OpenStack Compute"
MANUFACTURER = "OpenStack Foundation"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k.rstrip("_"): str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


def _metadata(dom: ET.Element, instance: dict) -> None:
    ET.register_namespace("nova", NOVA_NS)
    meta = _sub(dom, "metadata")
    inst = _sub(meta, f"{{{NOVA_NS}}}instance")
    _sub(inst, f"{{{NOVA_NS}}}package", version="kumo")
    _sub(inst, f"{{{NOVA_NS}}}name", instance.get("display_name") or "")
    flavor = instance.get("flavor") or {}
    fl = _sub(inst, f"{{{NOVA_NS}}}flavor", name=flavor.get("name") or "")
    for key, tag in (("ram", "memory"), ("disk", "disk"), ("swap", "swap"),
                     ("ephemeral", "ephemeral"), ("vcpus", "vcpus")):
        _sub(fl, f"{{{NOVA_NS}}}{tag}", int(flavor.get(key) or 0))
    owner = _sub(inst, f"{{{NOVA_NS}}}owner")
    _sub(owner, f"{{{NOVA_NS}}}user", uuid=instance.get("user_id") or "")
    _sub(owner, f"{{{NOVA_NS}}}project", uuid=instance.get("project_id") or "")
    if instance.get("image_ref"):
        _sub(inst, f"{{{NOVA_NS}}}root", type="image", uuid=instance["image_ref"])


def _sysinfo(dom: ET.Element, instance: dict) -> None:
    sysinfo = _sub(dom, "sysinfo", type="smbios")
    system = _sub(sysinfo, "system")
    for name, value in (("manufacturer", MANUFACTURER), ("product", PRODUCT), ("version", "kumo"),
                        ("serial", instance["uuid"]), ("uuid", instance["uuid"]),
                        ("family", "Virtual Machine")):
        _sub(system, "entry", value, name=name)


#: instance files that are qcow2 wherever they are attached (a rescued guest's own disk is vdb)
QCOW2_FILES = ("disk", "disk.rescue")


def _rescue_disk(devices: ET.Element, path: Path, rescue: dict, cache: str) -> None:
    """A stable device rescue's disk (qcow2 overlay) on its bus, booted first."""
    disk = _sub(devices, "disk", type="file", device=rescue["device"])
    _sub(disk, "driver", name="qemu", type="qcow2", cache=cache)
    _sub(disk, "source", file=str(path))
    _sub(disk, "target", dev=rescue["target"], bus=rescue["bus"])
    _sub(disk, "boot", order=1)
    if rescue["device"] == "cdrom":
        _sub(disk, "readonly")


def _disk(devices: ET.Element, path: Path, target: str, cache: str) -> None:
    if target.startswith("hd"):  # the config drive: a read-only IDE CD-ROM
        disk = _sub(devices, "disk", type="file", device="cdrom")
        _sub(disk, "driver", name="qemu", type="raw", cache=cache)
        _sub(disk, "source", file=str(path))
        _sub(disk, "target", dev=target, bus="ide")
        _sub(disk, "readonly")
        return
    fmt = "qcow2" if target == "vda" or path.name in QCOW2_FILES else "raw"
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type=fmt, cache=cache)
    _sub(disk, "source", file=str(path))
    _sub(disk, "target", dev=target, bus="virtio")


def _interface(devices: ET.Element, vif: dict) -> None:
    iface = _sub(devices, "interface", type="bridge")
    _sub(iface, "mac", address=vif["mac_address"])
    _sub(iface, "source", bridge=vif["bridge"])
    _sub(iface, "target", dev=vif["devname"])
    _sub(iface, "model", type="virtio")
    if vif.get("mtu"):
        _sub(iface, "mtu", size=int(vif["mtu"]))


def interface_xml(vif: dict) -> str:
    """The ``<interface type="bridge">`` element of one network_info entry, alone (for
    ``attachDeviceFlags`` / ``detachDeviceFlags``); the same element the domain XML holds."""
    holder = ET.Element("devices")
    _interface(holder, vif)
    return ET.tostring(holder[0], encoding="unicode")


def domain_xml(instance: dict, network_info: list[dict], disks: dict[str, Path], console_log: Path,
               virt_type: str = "qemu", disk_cache: str | None = None, vnc_listen: str = "127.0.0.1") -> str:
    """The domain XML (a str) for ``instance`` (the contract's instance dict).

    ``disks``: target dev -> file, ``vda`` the qcow2 root, ``vdb``/``vdc``
    raw, ``hda`` the config drive ISO; ``instance["rescue_device"]`` (stable device rescue,
    ``{"target", "bus", "device"}``) names the disk booted first; ``network_info``:
    entries with ``mac_address``, ``bridge``, ``devname``; ``virt_type``:
    ``qemu`` (TCG) or ``kvm``; ``disk_cache``: ``none``/``writeback``
    (default: writeback for TCG, none for kvm); ``vnc_listen``: the VNC server's
    address (``[vnc] server_listen``; its port is chosen by libvirt). Raises KeyError/ValueError
    for a malformed instance.
    """
    if virt_type not in ("qemu", "kvm"):
        raise ValueError(f"unsupported virt_type {virt_type!r}")
    cache = disk_cache or ("none" if virt_type == "kvm" else "writeback")
    flavor = instance["flavor"]
    dom = ET.Element("domain", type=virt_type)
    _sub(dom, "name", instance["instance_name"])
    _sub(dom, "uuid", instance["uuid"])
    _metadata(dom, instance)
    _sub(dom, "memory", int(flavor["ram"]), unit="MiB")
    _sub(dom, "currentMemory", int(flavor["ram"]), unit="MiB")
    _sub(dom, "vcpu", int(flavor["vcpus"]), placement="static")
    _sysinfo(dom, instance)
    os_ = _sub(dom, "os")
    _sub(os_, "type", "hvm", arch="x86_64", machine="pc")
    rescue = instance.get("rescue_device")  # stable device rescue: that disk boots (order 1)
    if not rescue:
        _sub(os_, "boot", dev="hd")
    _sub(os_, "smbios", mode="sysinfo")
    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if virt_type == "kvm":
        _sub(dom, "cpu", mode="host-model", match="exact")
    clock = _sub(dom, "clock", offset="utc")
    _sub(clock, "timer", name="pit", tickpolicy="delay")
    _sub(clock, "timer", name="rtc", tickpolicy="catchup")
    _sub(clock, "timer", name="hpet", present="no")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")
    devices = _sub(dom, "devices")
    for target in sorted(disks):
        if rescue and target == rescue["target"]:
            _rescue_disk(devices, disks[target], rescue, cache)
        else:
            _disk(devices, disks[target], target, cache)
    if rescue and rescue["bus"] == "scsi":
        _sub(devices, "controller", type="scsi", model="virtio-scsi")
    for vif in network_info:
        _interface(devices, vif)
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "log", file=str(console_log), append="on")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    _sub(devices, "input", type="tablet", bus="usb")
    graphics = _sub(devices, "graphics", type="vnc", autoport="yes", listen=vnc_listen)
    _sub(graphics, "listen", type="address", address=vnc_listen)
    video = _sub(devices, "video")
    _sub(video, "model", type="virtio")
    rng = _sub(devices, "rng", model="virtio")
    _sub(rng, "backend", "/dev/urandom", model="random")
    balloon = _sub(devices, "memballoon", model="virtio")
    _sub(balloon, "stats", period="10")
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")
