"""The image cache of a compute node and the "is this a bootable disk" check.

Images are cached once per node in ``<instances_dir>/_base/<image_id>``:
the download goes to a temporary name in the same directory, is checked
(checksum, declared format, boot sector) and only then renamed into place,
so the cache never holds a partial or unchecked file. Concurrent builds of
the same image wait on one download (an :class:`asyncio.Lock` per image id).

Cached formats: ``qcow2`` and ``raw`` (glance ``raw``/``ami``) are kept as
they are; ``vmdk``, ``vdi``, ``vhd`` and ``vhdx`` are converted to qcow2.
Other ``disk_format`` values (``iso``, ``aki``, ``ari``, ``ploop``) are refused.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from kumo.common.host import qemu_img
from kumo.common.host.process import HostError

log = logging.getLogger(__name__)

#: disk formats a guest can boot from, glance name -> format kept in the cache
CACHED_FORMAT = {"qcow2": "qcow2", "raw": "raw", "ami": "raw",
                 "vmdk": "qcow2", "vdi": "qcow2", "vhd": "qcow2", "vhdx": "qcow2"}

QCOW2_MAGIC = b"QFI\xfb"


class ImageError(Exception):
    """The image cannot be used; the message names the image and is fit for a fault."""


class ImageNotBootable(ImageError):
    """The image data is not a bootable disk of its declared format."""

    def __init__(self, image_id: str, reason: str):
        super().__init__(f"Image {image_id} is not a bootable disk: {reason}")
        self.image_id, self.reason = image_id, reason


@dataclass(frozen=True)
class CachedImage:
    """A checked image in the cache: its file, qemu format and virtual size in bytes."""

    path: Path
    format: str
    virtual_size: int


def _read_head(path: Path, n: int = 1024) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def has_boot_sector(head: bytes) -> bool:
    """True if ``head`` (the first >= 1 KiB) carries an MBR signature or a GPT header."""
    mbr = len(head) >= 512 and head[510:512] == b"\x55\xaa"
    gpt = len(head) >= 520 and head[512:520] == b"EFI PART"
    return mbr or gpt


async def verify_disk(path: Path, disk_format: str, image_id: str) -> dict:
    """Check that ``path`` is a bootable disk of glance ``disk_format``; return its qemu-img info.

    qcow2 must parse as qcow2 and must not name a backing or external data
    file; raw must not be another image format in disguise and must carry an
    MBR boot signature or a partition table. Raises ImageNotBootable.
    """
    qfmt = qemu_img.GLANCE_TO_QEMU.get(disk_format)
    if qfmt is None:
        raise ImageError(f"Image {image_id} has unsupported disk_format {disk_format!r}")
    try:
        info = await qemu_img.info(path, fmt=qfmt)
    except HostError as e:
        raise ImageNotBootable(image_id, f"not a valid {disk_format} image ({e.stderr.strip()})") from None
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise ImageNotBootable(image_id, f"{disk_format} image names a backing file")
    data = (info.get("format-specific") or {}).get("data") or {}
    if data.get("data-file"):
        raise ImageNotBootable(image_id, f"{disk_format} image names an external data file")
    if int(info.get("virtual-size") or 0) <= 0:
        raise ImageNotBootable(image_id, "the disk is empty")
    if qfmt == "raw":
        head = await asyncio.to_thread(_read_head, path)
        if head[:4] == QCOW2_MAGIC:
            raise ImageNotBootable(image_id, "disk_format is raw but the data is a qcow2 image")
        if not has_boot_sector(head):
            raise ImageNotBootable(image_id, "no MBR boot signature or partition table")
    return info


def _checksum_of(meta: dict) -> tuple[str, str] | None:
    algo, value = meta.get("os_hash_algo"), meta.get("os_hash_value")
    if algo and value and algo in hashlib.algorithms_available:
        return algo, value.lower()
    if meta.get("checksum"):
        return "md5", meta["checksum"].lower()
    return None


Downloader = Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]]


class ImageCache:
    """Per-node cache of image files under ``<instances_dir>/_base``."""

    def __init__(self, instances_dir: str | os.PathLike):
        self.dir = Path(instances_dir, "_base")
        self._locks: dict[str, asyncio.Lock] = {}

    def path(self, image_id: str) -> Path:
        return self.dir / image_id

    def prepare(self) -> None:
        """Create the cache directory (0755) and drop temporary files a crash left behind."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        for leftover in self.dir.glob("*.part-*"):
            leftover.unlink(missing_ok=True)

    async def fetch(self, meta: dict, download: Downloader) -> CachedImage:
        """The cached, checked image for glance image ``meta`` (``id``, ``disk_format``, checksums).

        ``download(write)`` streams the image data, awaiting ``write(chunk)``
        per chunk; it is only called when the image is not cached yet.
        Raises ImageError/ImageNotBootable (nothing is left in the cache
        then) or whatever ``download`` raises.
        """
        image_id = meta["id"]
        if "/" in image_id or image_id.startswith("."):
            raise ImageError(f"Image {image_id} has an invalid id")
        disk_format = meta.get("disk_format") or ""
        cached_format = CACHED_FORMAT.get(disk_format)
        if cached_format is None:
            raise ImageError(f"Image {image_id} has unsupported disk_format {disk_format!r}")
        lock = self._locks.setdefault(image_id, asyncio.Lock())
        async with lock:
            final = self.path(image_id)
            if not final.exists():
                await self._download(meta, download, cached_format)
            try:
                info = await verify_disk(final, "qcow2" if cached_format == "qcow2" else disk_format, image_id)
            except ImageError:
                final.unlink(missing_ok=True)  # damaged in the cache: fetch it again next time
                raise
            return CachedImage(final, cached_format, int(info["virtual-size"]))

    async def _download(self, meta: dict, download: Downloader, cached_format: str) -> None:
        image_id, disk_format = meta["id"], meta["disk_format"]
        self.prepare()
        tmp = self.dir / f"{image_id}.part-{uuid.uuid4().hex[:8]}"
        converted = tmp.with_name(tmp.name + ".qcow2")
        check = _checksum_of(meta)
        digest = hashlib.new(check[0]) if check else None
        received = 0
        f = await asyncio.to_thread(open, tmp, "wb")
        try:
            async def write(chunk: bytes) -> None:
                nonlocal received
                received += len(chunk)
                if digest is not None:
                    digest.update(chunk)
                await asyncio.to_thread(f.write, chunk)

            try:
                await download(write)
            finally:
                await asyncio.to_thread(f.close)
            if meta.get("size") is not None and received != int(meta["size"]):
                raise ImageError(f"Image {image_id} download is incomplete "
                                 f"({received} of {meta['size']} bytes)")
            if check and digest.hexdigest() != check[1]:
                raise ImageError(f"Image {image_id} failed its {check[0]} checksum check "
                                 f"(expected {check[1]}, got {digest.hexdigest()})")
            await verify_disk(tmp, disk_format, image_id)
            source = tmp
            if qemu_img.GLANCE_TO_QEMU[disk_format] != cached_format:
                try:
                    await qemu_img.convert(tmp, converted, qemu_img.GLANCE_TO_QEMU[disk_format], "qcow2")
                except HostError as e:
                    raise ImageNotBootable(image_id, f"cannot convert {disk_format}: {e.stderr.strip()}") from None
                source = converted
            os.chmod(source, 0o644)
            os.replace(source, self.path(image_id))
            log.info("cached image %s (%s)", image_id, disk_format)
        finally:
            tmp.unlink(missing_ok=True)
            converted.unlink(missing_ok=True)
