"""Disk format inspection: the virtual size of uploaded image data.

:class:`FormatInspector` is fed the data as it streams to the store; it keeps
only the first 64 KiB and the last 512 bytes, then reads the virtual disk size
(bytes) from the format's header:

- ``qcow2``: big-endian size at offset 24 of the header (magic ``QFI\\xfb``);
- ``vmdk``: sparse extent header (magic ``KDMV``), capacity in 512-byte sectors;
- ``vdi``: VirtualBox header (signature ``0xbeda107f`` at 0x40), disk size at 0x170;
- ``vhd``: "current size" of the ``conectix`` footer (at the start for dynamic
  disks, at the end for fixed ones);
- ``raw`` and ``iso``: the data size itself.

Anything else, or data that does not carry the declared format's header,
gives ``None`` (the upload is still accepted, as glance does).
"""
from __future__ import annotations

import struct

HEAD_BYTES = 65536
TAIL_BYTES = 512

QCOW2_MAGIC = b"QFI\xfb"
VMDK_MAGIC = b"KDMV"
VDI_SIGNATURE = 0xBEDA107F
VHD_COOKIE = b"conectix"


class FormatInspector:
    """Collects what is needed to find a disk's virtual size while data streams by."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = b""

    def feed(self, data: bytes) -> None:
        """Look at the next chunk of data (any size)."""
        if len(self.head) < HEAD_BYTES:
            self.head += data[:HEAD_BYTES - len(self.head)]
        if len(data) >= TAIL_BYTES:
            self.tail = bytes(data[-TAIL_BYTES:])
        else:
            self.tail = (self.tail + bytes(data))[-TAIL_BYTES:]

    def virtual_size(self, disk_format: str | None, size: int) -> int | None:
        """Virtual size in bytes for ``disk_format`` given ``size`` bytes of data, or None."""
        if disk_format in ("raw", "iso"):
            return size
        reader = _READERS.get(disk_format or "")
        if reader is None:
            return None
        try:
            return reader(self)
        except struct.error:
            return None


def _qcow2(insp: FormatInspector) -> int | None:
    head = bytes(insp.head[:32])
    if len(head) < 32 or head[:4] != QCOW2_MAGIC:
        return None
    version, = struct.unpack(">I", head[4:8])
    if version not in (2, 3):
        return None
    size, = struct.unpack(">Q", head[24:32])
    return size


def _vmdk(insp: FormatInspector) -> int | None:
    head = bytes(insp.head[:20])
    if len(head) < 20 or head[:4] != VMDK_MAGIC:
        return None
    capacity, = struct.unpack("<Q", head[12:20])
    return capacity * 512


def _vdi(insp: FormatInspector) -> int | None:
    head = bytes(insp.head[:0x178])
    if len(head) < 0x178:
        return None
    signature, = struct.unpack("<I", head[0x40:0x44])
    if signature != VDI_SIGNATURE:
        return None
    size, = struct.unpack("<Q", head[0x170:0x178])
    return size


def _vhd(insp: FormatInspector) -> int | None:
    for footer in (bytes(insp.head[:TAIL_BYTES]), insp.tail):
        if len(footer) >= 56 and footer[:8] == VHD_COOKIE:
            size, = struct.unpack(">Q", footer[48:56])
            return size
    return None


_READERS = {"qcow2": _qcow2, "vmdk": _vmdk, "vdi": _vdi, "vhd": _vhd}
