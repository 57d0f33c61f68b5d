"""An instance's directory and disks: root overlay, ephemeral and swap.

``<instances_dir>/<uuid>/`` (0755) holds ``disk`` (a qcow2 overlay of the
flavor's root size on the cached image), ``disk.local`` (the flavor's
ephemeral GiB as a sparse raw ext4 file system labelled ``ephemeral0``, as
cloud-init expects) and ``disk.swap`` (the flavor's swap MiB, raw, mkswap'ed).
Files are 0644 so the qemu user can read them; libvirt's dynamic ownership
takes the disks over while the guest runs.
"""
from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from kumo.common.host import qemu_img
from kumo.common.host.process import HostError, run
from kumo.compute.virt import configdrive
from kumo.compute.virt.base import InstancePaths, VirtError
from kumo.compute.virt.images import CachedImage

GiB = 1024 ** 3
MiB = 1024 ** 2


class FlavorDiskTooSmall(VirtError):
    """The flavor's root disk cannot hold the image (nova's FlavorDiskSmallerThanImage)."""

    def __init__(self, flavor_bytes: int, image_bytes: int):
        super().__init__("Flavor's disk is too small for requested image. Flavor disk is "
                         f"{flavor_bytes} bytes, image is {image_bytes} bytes.")


def _sparse_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
    os.chmod(path, 0o644)


async def create_disks(paths: InstancePaths, image: CachedImage, flavor: dict) -> dict[str, Path]:
    """Make the instance directory and its disks; return target dev -> file (``vda`` first).

    ``flavor``: the instance dict's flavor (``disk`` GiB, 0 = the image's
    size; ``ephemeral`` GiB; ``swap`` MiB). Raises FlavorDiskTooSmall or
    VirtError; on failure the directory is removed again. Raises VirtError
    if the directory already exists (another build owns it).
    """
    root_gb = int(flavor.get("disk") or 0)
    if root_gb and root_gb * GiB < image.virtual_size:
        raise FlavorDiskTooSmall(root_gb * GiB, image.virtual_size)
    try:
        paths.dir.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise VirtError(f"Instance directory {paths.dir} already exists") from None
    try:
        os.chmod(paths.dir, 0o755)
        disks = {"vda": paths.disk}
        await qemu_img.create_overlay(image.path, paths.disk, root_gb or None, image.format)
        os.chmod(paths.disk, 0o644)
        ephemeral_gb = int(flavor.get("ephemeral") or 0)
        swap_mb = int(flavor.get("swap") or 0)
        dev = iter(("vdb", "vdc"))
        if ephemeral_gb:
            await asyncio.to_thread(_sparse_file, paths.disk_local, ephemeral_gb * GiB)
            await run("mkfs.ext4", "-q", "-F", "-L", "ephemeral0", "-E",
                      "lazy_itable_init=1,lazy_journal_init=1", str(paths.disk_local))
            disks[next(dev)] = paths.disk_local
        if swap_mb:
            await asyncio.to_thread(_sparse_file, paths.disk_swap, swap_mb * MiB)
            await run("mkswap", "-L", "swap0", str(paths.disk_swap))
            disks[next(dev)] = paths.disk_swap
        return disks
    except HostError as e:
        await remove_instance_dir(paths)
        raise VirtError(f"Failed to create the instance disks: {e}") from None
    except BaseException:
        await remove_instance_dir(paths)
        raise


async def remove_instance_dir(paths: InstancePaths) -> None:
    """Remove ``<instances_dir>/<uuid>/`` and everything in it (no error when it is gone)."""
    await asyncio.to_thread(shutil.rmtree, paths.dir, True)


def rescue_disk(paths: InstancePaths) -> Path:
    """The rescue image's overlay, ``<instance dir>/disk.rescue`` (qcow2)."""
    return paths.dir / "disk.rescue"


def resize_backup(paths: InstancePaths) -> Path:
    """The root disk as it was before a resize (kept for a revert until the confirm)."""
    return paths.dir / "disk.resize-orig"


def existing_disks(paths: InstancePaths) -> dict[str, Path]:
    """Target dev -> file of the disks an instance has on this node, in :func:`create_disks`'
    order (``vda`` root, then ephemeral and swap when present) plus the config drive (``hda``)."""
    disks = {"vda": paths.disk}
    dev = iter(("vdb", "vdc"))
    for extra in (paths.disk_local, paths.disk_swap):
        if extra.exists():
            disks[next(dev)] = extra
    drive = configdrive.config_drive_path(paths)
    if drive.exists():
        disks[configdrive.TARGET] = drive
    return disks


async def grow_root(paths: InstancePaths, size_gb: int) -> None:
    """Grow the root disk to ``size_gb`` GiB (a no-op when it is that large already); VirtError."""
    try:
        info = await qemu_img.info(paths.disk, fmt="qcow2", force_share=True)
        if int(info.get("virtual-size", 0)) < size_gb * GiB:
            await qemu_img.resize(paths.disk, size_gb * GiB)
    except HostError as e:
        raise VirtError(f"Failed to resize the disk of {paths.uuid}: {e}") from None
