"""Checking and converting a local image file before an import stores it.

:func:`prepare` inspects the file's header (:class:`kumo.image.formats.FormatInspector`:
declared format, backing or external data files), asks ``qemu-img info -f
<declared format>`` for formats qemu reads (a second opinion, never probing,
and the virtual size), then converts the data to the import target format
(``[image] import_target_format``) with ``qemu-img convert`` when it differs.
Formats qemu-img does not handle here (``iso``, ``ami``, ``aki``, ``ari``,
``ploop``) are stored as they are.

Raises :class:`FormatRejected` for data that must not be stored; a failed
conversion leaves no output file.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from kumo.common.host import qemu_img
from kumo.common.host.process import HostError
from kumo.image.formats import HEAD_BYTES, TAIL_BYTES, FormatInspector, FormatRejected

#: Disk formats qemu-img checks and converts on import.
CONVERTIBLE = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")
TARGETS = ("raw", "qcow2")


@dataclass(frozen=True)
class Prepared:
    """The file to store, its disk format and virtual size (bytes); ``temporary`` if made here."""

    path: Path
    disk_format: str
    virtual_size: int | None
    temporary: bool = False


def _sniff(path: Path) -> FormatInspector:
    insp = FormatInspector()
    with open(path, "rb") as f:
        insp.feed(f.read(HEAD_BYTES))
        size = os.fstat(f.fileno()).st_size
        if size > HEAD_BYTES:
            f.seek(max(HEAD_BYTES, size - TAIL_BYTES))
            insp.feed(f.read(TAIL_BYTES))
    return insp


def _check_info(info: dict, disk_format: str) -> None:
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise FormatRejected(f"{disk_format} images with a backing file are not allowed.")
    specific = (info.get("format-specific") or {}).get("data") or {}
    if specific.get("data-file") or specific.get("data-file-raw"):
        raise FormatRejected(f"{disk_format} images with an external data file are not allowed.")


async def prepare(path: Path, disk_format: str, target: str = "") -> Prepared:
    """Check ``path`` (declared ``disk_format``) and convert it to ``target`` ("" keeps the format)."""
    insp = await asyncio.to_thread(_sniff, path)
    insp.check(disk_format)
    size = (await asyncio.to_thread(os.stat, path)).st_size
    if disk_format not in CONVERTIBLE:
        return Prepared(path, disk_format, insp.virtual_size(disk_format, size))
    qfmt = qemu_img.GLANCE_TO_QEMU[disk_format]
    try:
        info = await qemu_img.info(path, fmt=qfmt)
    except HostError as e:
        raise FormatRejected(f"Image data is not a valid {disk_format} image: {e.stderr.strip()}") from None
    _check_info(info, disk_format)
    virtual_size = info.get("virtual-size")
    if not target or target == disk_format:
        return Prepared(path, disk_format, virtual_size)
    out = path.with_name(f"{path.name}.{target}.partial")
    try:
        await qemu_img.convert(path, out, qfmt, qemu_img.GLANCE_TO_QEMU[target])
    except BaseException as e:
        await asyncio.shield(asyncio.to_thread(out.unlink, missing_ok=True))
        if isinstance(e, HostError):
            raise FormatRejected(f"Image data could not be converted to {target}: {e.stderr.strip()}") from None
        raise
    return Prepared(out, target, virtual_size, temporary=True)
