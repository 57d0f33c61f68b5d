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
gives ``None``.

:meth:`FormatInspector.check` then decides whether the data may be stored
under its declared ``disk_format`` (raising :class:`FormatRejected`, a 400 for
the API): qcow2, vmdk, vdi, vhd and vhdx data must carry their format's
header; data that carries another disk format's header than the declared one
is refused (a qcow2 uploaded as ``raw`` would otherwise be probed later); a
qcow2 may not name a backing file or an external data file (header fields,
incompatible feature bit 2, the ``DATA`` header extension); a vmdk must be a
single-file ``monolithicSparse`` or ``streamOptimized`` disk whose descriptor
names exactly one extent. Those would make a reader of the image open other
files on the host (the qcow2/vmdk host-file disclosure).
"""
from __future__ import annotations

import struct

HEAD_BYTES = 65536
TAIL_BYTES = 512

QCOW2_MAGIC = b"QFI\xfb"
VMDK_MAGIC = b"KDMV"
VDI_SIGNATURE = 0xBEDA107F
VHD_COOKIE = b"conectix"
VHDX_MAGIC = b"vhdxfile"
QCOW2_DATA_FILE_EXT = 0x44415441
QCOW2_INCOMPAT_DATA_FILE = 1 << 2
QCOW2_AUTOCLEAR_RAW_DATA = 1 << 1
VMDK_CREATE_TYPES = ("monolithicSparse", "streamOptimized")
#: Formats whose data must carry their own header.
HEADER_FORMATS = ("qcow2", "vmdk", "vdi", "vhd", "vhdx")


class FormatRejected(ValueError):
    """The data may not be stored under its declared disk format (the message says why)."""


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

    def detect(self) -> str | None:
        """The disk format the data's header announces (qcow2, vmdk, vdi, vhdx, vhd), or None."""
        head = bytes(self.head[:0x44])
        if head[:4] == QCOW2_MAGIC:
            return "qcow2"
        if head[:4] == VMDK_MAGIC:
            return "vmdk"
        if head[:8] == VHDX_MAGIC:
            return "vhdx"
        if len(head) >= 0x44 and struct.unpack("<I", head[0x40:0x44])[0] == VDI_SIGNATURE:
            return "vdi"
        if head[:8] == VHD_COOKIE or self.tail[:8] == VHD_COOKIE:
            return "vhd"
        return None

    def check(self, disk_format: str | None) -> None:
        """Raise :class:`FormatRejected` unless the data is safe to keep as ``disk_format``."""
        found = self.detect()
        if disk_format in HEADER_FORMATS and found != disk_format:
            raise FormatRejected(f"Image data is not in the declared disk_format {disk_format}.")
        if found is not None and found != disk_format:
            raise FormatRejected(f"Image data is in {found} format, not the declared "
                                 f"disk_format {disk_format}.")
        if found == "qcow2":
            _check_qcow2(bytes(self.head))
        elif found == "vmdk":
            _check_vmdk(bytes(self.head))


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


def _check_qcow2(head: bytes) -> None:
    if len(head) < 72:
        raise FormatRejected("qcow2 header is truncated.")
    version, backing_offset = struct.unpack(">IQ", head[4:16])
    if version not in (2, 3):
        raise FormatRejected(f"qcow2 version {version} is not supported.")
    if backing_offset:
        raise FormatRejected("qcow2 images with a backing file are not allowed.")
    header_length = 72
    if version == 3:
        if len(head) < 104:
            raise FormatRejected("qcow2 header is truncated.")
        incompatible, _, autoclear = struct.unpack(">QQQ", head[72:96])
        if incompatible & QCOW2_INCOMPAT_DATA_FILE or autoclear & QCOW2_AUTOCLEAR_RAW_DATA:
            raise FormatRejected("qcow2 images with an external data file are not allowed.")
        header_length, = struct.unpack(">I", head[100:104])
    offset = header_length
    while offset + 8 <= len(head):
        kind, length = struct.unpack(">II", head[offset:offset + 8])
        if kind == 0:
            return
        if kind == QCOW2_DATA_FILE_EXT:
            raise FormatRejected("qcow2 images with an external data file are not allowed.")
        offset += 8 + (length + 7) // 8 * 8
    raise FormatRejected("qcow2 header extensions could not be read.")


def _check_vmdk(head: bytes) -> None:
    if len(head) < 44:
        raise FormatRejected("vmdk header is truncated.")
    desc_offset, desc_size = struct.unpack("<QQ", head[28:44])
    start, end = desc_offset * 512, (desc_offset + desc_size) * 512
    if not desc_offset or not desc_size or end > len(head):
        raise FormatRejected("vmdk descriptor could not be read.")
    text = head[start:end].split(b"\0", 1)[0].decode("ascii", "replace")
    create_type, extents = None, 0
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("createType="):
            create_type = line.partition("=")[2].strip().strip('"')
        elif line.split(" ", 1)[0] in ("RW", "RDONLY", "NOACCESS"):
            extents += 1
    if create_type not in VMDK_CREATE_TYPES:
        raise FormatRejected(f"vmdk createType {create_type!r} is not allowed.")
    if extents != 1:
        raise FormatRejected("vmdk images must have exactly one extent.")
