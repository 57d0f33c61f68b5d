"""The image cache of a compute node and the "is this a bootable disk" check.

Images are cached once per node in ``<instances_dir>/_base/<image_id>``:
the download goes to a temporary name in the same directory, is checked
(checksum, declared format, boot sector) and only then renamed into place,
so the cache never holds a partial or unchecked file. Concurrent builds of
the same image wait on one download (an :class:`asyncio.Lock` per image id).

Every use (:meth:`ImageCache.fetch`) and every ageing pass that finds the image in use
touches the file, so its mtime is its last use. :meth:`ImageCache.usage` counts the
instances using each cached image (their qcow2 disks name it as backing file, or the
database says their image_ref is it) and :meth:`ImageCache.age` removes the unused ones
whose last use is older than ``[compute] image_cache_max_age`` (nova's image cache manager).

Cached formats: ``qcow2`` and ``raw`` (glance ``raw``/``ami``) are kept as
they are; ``vmdk``, ``vdi``, ``vhd`` and ``vhdx`` are converted to qcow2.
Other ``disk_format`` values (``iso``, ``aki``, ``ari``, ``ploop``) are refused.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
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


class ImageGone(ImageError):
    """The image was deleted (an upload into it answered 404 or 410)."""


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


def _touch(path: Path, now: float | None = None) -> None:
    try:
        os.utime(path, None if now is None else (now, now))
    except FileNotFoundError:
        pass


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


def backing_file(path: str | os.PathLike) -> str | None:
    """The backing file a qcow2 file names in its header (None for no backing, a non-qcow2
    file or an unreadable one)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
            if len(head) < 20 or head[:4] != QCOW2_MAGIC:
                return None
            offset, size = int.from_bytes(head[8:16], "big"), int.from_bytes(head[16:20], "big")
            if not offset or not 0 < size <= 4096:
                return None
            f.seek(offset)
            return f.read(size).decode("utf-8", errors="replace")
    except OSError:
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
            _touch(final)
            return CachedImage(final, cached_format, int(info["virtual-size"]))

    def cached(self) -> list[str]:
        """Ids of the images in the cache (complete files only)."""
        if not self.dir.is_dir():
            return []
        return sorted(p.name for p in self.dir.iterdir() if p.is_file() and ".part-" not in p.name)

    def usage(self, instances: Iterable[dict] = ()) -> dict[str, int]:
        """Cached image id -> number of instances using it (0 for unused ones).

        An instance uses an image when a qcow2 file in its directory
        (``<instances_dir>/<uuid>/``: root, rescue and resize-backup disks)
        has the cached file as backing file, or when it is among ``instances``
        (the database's dicts: ``uuid``, ``image_ref``) with that image_ref (a
        build that has not made its disks yet). Reads headers only: no subprocess.
        """
        users: dict[str, set[str]] = {image_id: set() for image_id in self.cached()}
        base = str(self.dir.resolve())
        for inst_dir in self.dir.parent.iterdir() if self.dir.parent.is_dir() else ():
            if inst_dir == self.dir or not inst_dir.is_dir():
                continue
            for disk in inst_dir.iterdir():
                backing = backing_file(disk) if disk.is_file() else None
                if not backing:
                    continue
                backing_path = Path(backing) if os.path.isabs(backing) else inst_dir / backing
                if str(backing_path.parent.resolve()) == base and backing_path.name in users:
                    users[backing_path.name].add(inst_dir.name)
        for inst in instances:
            if inst.get("image_ref") in users:
                users[inst["image_ref"]].add(inst["uuid"])
        return {image_id: len(uuids) for image_id, uuids in users.items()}

    def age(self, usage: dict[str, int], max_age: float, now: float | None = None) -> list[str]:
        """Remove the cached images ``usage`` counts no user for whose last use is more than
        ``max_age`` seconds before ``now`` (default: the current time); touch the used ones.
        Images being fetched and images ``usage`` does not name are kept. Returns the removed ids."""
        now = time.time() if now is None else now
        removed = []
        for image_id in self.cached():
            path = self.path(image_id)
            lock = self._locks.get(image_id)
            if image_id not in usage or (lock is not None and lock.locked()):
                continue
            if usage[image_id] > 0:
                _touch(path, now)
                continue
            try:
                last_use = path.stat().st_mtime
            except FileNotFoundError:
                continue
            if now - last_use > max_age:
                path.unlink(missing_ok=True)
                self._locks.pop(image_id, None)
                removed.append(image_id)
                log.info("removed unused cached image %s (last used %.0f s ago)", image_id, now - last_use)
        return removed

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
