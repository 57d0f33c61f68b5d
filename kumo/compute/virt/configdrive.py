"""The config drive: an ISO 9660 image labelled ``config-2`` with the instance's metadata.

Made when the instance asks for one (``config_drive`` true), as nova's
``nova/virt/configdrive.py`` does, so cloud-init's ConfigDrive data source
finds the same documents the metadata API serves:

- ``openstack/<version>/meta_data.json`` (uuid, name, hostname, meta,
  availability_zone, launch_index, public_keys/keys, project_id, devices,
  random_seed), ``network_data.json`` (one link per port, DHCP networks),
  ``vendor_data.json``/``vendor_data2.json`` (``{}``) and ``user_data``
  when given, for each OpenStack metadata version and ``latest``;
- ``ec2/<version>/meta-data.json`` and ``user-data`` (``latest`` and 2009-04-04).

The image is ``<instance_dir>/disk.config``, attached read-only as a CD-ROM
(``hda``). Built with ``genisoimage`` (Debian package genisoimage).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import shutil
import tempfile
from pathlib import Path

from kumo.common.host.process import HostError, run
from kumo.compute.virt.base import InstancePaths, VirtError

OPENSTACK_VERSIONS = ["2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                      "2016-10-06", "2017-02-22", "2018-08-27", "latest"]
EC2_VERSIONS = ["2009-04-04", "latest"]
#: target device of the config drive (an IDE CD-ROM on machine type pc)
TARGET = "hda"


def config_drive_path(paths: InstancePaths) -> Path:
    return paths.dir / "disk.config"


def meta_data(instance: dict) -> dict:
    """``meta_data.json`` for ``instance`` (the bus dict)."""
    data = {"uuid": instance["uuid"], "name": instance.get("display_name") or "",
            "hostname": instance.get("hostname") or "", "launch_index": 0,
            "availability_zone": instance.get("availability_zone") or "nova",
            "meta": dict(instance.get("metadata") or {}), "project_id": instance.get("project_id"),
            "devices": [], "random_seed": base64.b64encode(os.urandom(512)).decode()}
    if instance.get("key_name") and instance.get("key_data"):
        data["public_keys"] = {instance["key_name"]: instance["key_data"]}
        data["keys"] = [{"name": instance["key_name"], "type": "ssh", "data": instance["key_data"]}]
    else:
        data["keys"] = []
    return data


def network_data(network_info: list[dict]) -> dict:
    """``network_data.json``: a link per port and a DHCP network per fixed IP."""
    links, networks = [], []
    for vif in network_info:
        links.append({"id": vif["devname"], "vif_id": vif["port_id"], "type": "bridge",
                      "mtu": vif.get("mtu"), "ethernet_mac_address": vif["mac_address"]})
        for ip in vif.get("fixed_ips") or []:
            networks.append({"id": f"network{len(networks)}", "link": vif["devname"],
                             "type": "ipv6_dhcp" if ip.get("version") == 6 else "ipv4_dhcp",
                             "network_id": vif["network_id"]})
    return {"links": links, "networks": networks, "services": []}


def _user_data(instance: dict) -> bytes | None:
    raw = instance.get("user_data")
    if not raw:
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise VirtError("Instance user_data is not valid base64") from None


def write_tree(root: Path, instance: dict, network_info: list[dict]) -> None:
    """Write the config drive's files under ``root``."""
    user_data = _user_data(instance)
    meta = meta_data(instance)
    net = network_data(network_info)
    for version in OPENSTACK_VERSIONS:
        d = root / "openstack" / version
        d.mkdir(parents=True)
        (d / "meta_data.json").write_text(json.dumps(meta))
        (d / "network_data.json").write_text(json.dumps(net))
        (d / "vendor_data.json").write_text("{}")
        (d / "vendor_data2.json").write_text("{}")
        if user_data is not None:
            (d / "user_data").write_bytes(user_data)
    ips = [ip["ip_address"] for vif in network_info for ip in vif.get("fixed_ips") or []
           if ip.get("version", 4) == 4]
    ec2 = {"instance-id": "i-%08x" % int(instance.get("id") or 0), "hostname": meta["hostname"],
           "local-hostname": meta["hostname"], "local-ipv4": ips[0] if ips else "",
           "placement": {"availability-zone": meta["availability_zone"]},
           "public-keys": {"0": {"openssh-key": instance["key_data"]}} if instance.get("key_data") else {},
           "ami-launch-index": 0, "reservation-id": "", "security-groups": ["default"]}
    for version in EC2_VERSIONS:
        d = root / "ec2" / version
        d.mkdir(parents=True)
        (d / "meta-data.json").write_text(json.dumps(ec2))
        if user_data is not None:
            (d / "user-data").write_bytes(user_data)


async def make_config_drive(paths: InstancePaths, instance: dict, network_info: list[dict]) -> Path:
    """Build ``<instance_dir>/disk.config`` (0644) and return its path; raises VirtError."""
    target = config_drive_path(paths)
    staging = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="configdrive-", dir=paths.dir))
    try:
        await asyncio.to_thread(write_tree, staging, instance, network_info)
        await run("genisoimage", "-o", str(target), "-ldots", "-allow-lowercase", "-allow-multidot",
                  "-l", "-publisher", "kumo", "-quiet", "-J", "-r", "-V", "config-2", str(staging))
        os.chmod(target, 0o644)
        return target
    except (HostError, OSError) as e:
        target.unlink(missing_ok=True)
        raise VirtError(f"Failed to build the config drive: {e}") from None
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
