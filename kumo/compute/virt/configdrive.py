"""The config drive: an ISO 9660 image labelled ``config-2`` with the instance's metadata.

Made when the instance asks for one (``config_drive`` true), as nova's config
drive, so cloud-init's ConfigDrive data source finds the documents the
metadata API serves (one builder for both: :mod:`kumo.compute.metadata.content`):

- ``openstack/<version>/``: ``meta_data.json``, ``network_data.json`` (static
  addresses for subnets without DHCP), ``vendor_data.json``,
  ``vendor_data2.json`` and ``user_data`` (when given) as each metadata
  version lists them, for every version and ``latest`` (no ``password``: the
  guest posts that to the metadata service);
- ``ec2/<version>/meta-data.json`` (the EC2 meta-data tree as one JSON
  document) and ``user-data``, for 2009-04-04 and ``latest``.

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
from types import SimpleNamespace

from kumo.common.host.process import HostError, run
from kumo.compute.metadata import content
from kumo.compute.virt.base import InstancePaths, VirtError

OPENSTACK_VERSIONS = content.OPENSTACK_VERSIONS + ["latest"]
EC2_VERSIONS = ["2009-04-04", "latest"]
#: target device of the config drive (an IDE CD-ROM on machine type pc)
TARGET = "hda"


def config_drive_path(paths: InstancePaths) -> Path:
    return paths.dir / "disk.config"


def _view(instance: dict, network_info: list[dict] | None = None) -> SimpleNamespace:
    """The bus dict ``instance`` with the attribute names of the Instance row that
    :mod:`kumo.compute.metadata.content` reads."""
    return SimpleNamespace(
        id=int(instance.get("id") or 0), uuid=instance["uuid"], display_name=instance.get("display_name") or "",
        hostname=instance.get("hostname") or "", project_id=instance.get("project_id"),
        availability_zone=instance.get("availability_zone"), meta=dict(instance.get("metadata") or {}),
        launch_index=instance.get("launch_index") or 0, key_name=instance.get("key_name"),
        key_data=instance.get("key_data"), key_type=instance.get("key_type"),
        user_data=instance.get("user_data"), image_ref=instance.get("image_ref"),
        flavor=dict(instance.get("flavor") or {}), root_device_name=instance.get("root_device_name"),
        reservation_id=instance.get("reservation_id") or "",
        security_groups=instance.get("security_groups"),
        network_info=network_info if network_info is not None else instance.get("network_info") or [])


def meta_data(instance: dict, version: str = "latest") -> dict:
    """``meta_data.json`` of ``version`` for ``instance`` (the bus dict)."""
    return content.meta_data(_view(instance), version)


def network_data(network_info: list[dict]) -> dict:
    """``network_data.json`` of ``network_info`` (see :func:`content.network_data`)."""
    return content.network_data(network_info)


def _user_data(instance: dict) -> bytes | None:
    raw = instance.get("user_data")
    if not raw:
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise VirtError("Instance user_data is not valid base64") from None


def write_tree(root: Path, instance: dict, network_info: list[dict]) -> None:
    """Write the config drive's files under ``root``; raises VirtError for bad user data."""
    user_data = _user_data(instance)
    inst = _view(instance, network_info)
    net = content.network_data(network_info)
    for version in OPENSTACK_VERSIONS:
        d = root / "openstack" / version
        d.mkdir(parents=True)
        for name in content.openstack_files(inst, version):
            if name == "meta_data.json":
                (d / name).write_text(json.dumps(content.meta_data(inst, version)))
            elif name == "network_data.json":
                (d / name).write_text(json.dumps(net))
            elif name in ("vendor_data.json", "vendor_data2.json"):
                (d / name).write_text("{}")
            elif name == "user_data" and user_data is not None:
                (d / name).write_bytes(user_data)
    ec2 = content.ec2_tree(inst)
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
