"""Virtual sizes read from disk headers, checked against qemu-img."""
from __future__ import annotations

import json
import subprocess

import pytest

from kumo.image.formats import FormatInspector, FormatRejected


def qemu_image(tmp_path, fmt: str, size: str, *options: str) -> bytes:
    path = tmp_path / f"disk.{fmt}"
    subprocess.run(["qemu-img", "create", "-f", fmt, *options, str(path), size], check=True,
                   capture_output=True)
    return path.read_bytes()


def inspect(data: bytes, disk_format: str, chunk: int = 4093) -> int | None:
    insp = FormatInspector()
    for i in range(0, len(data), chunk):
        insp.feed(data[i:i + chunk])
    return insp.virtual_size(disk_format, len(data))


@pytest.mark.parametrize("fmt,disk_format,size,expected", [
    ("qcow2", "qcow2", "1G", 1024 ** 3),
    ("qcow2", "qcow2", "3M", 3 * 1024 ** 2),
    ("vmdk", "vmdk", "100M", 100 * 1024 ** 2),
    ("vdi", "vdi", "64M", 64 * 1024 ** 2),
])
def test_virtual_size_matches_qemu(tmp_path, fmt, disk_format, size, expected):
    data = qemu_image(tmp_path, fmt, size)
    assert inspect(data, disk_format) == expected
    assert inspect(data, disk_format, chunk=1) == expected  # tiny chunks too


def test_vhd_dynamic_and_fixed(tmp_path):
    dynamic = qemu_image(tmp_path, "vpc", "100M")
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(tmp_path / "disk.vpc")],
                                     check=True, capture_output=True, text=True).stdout)
    assert inspect(dynamic, "vhd") == info["virtual-size"]
    fixed = qemu_image(tmp_path, "vpc", "2M", "-o", "subformat=fixed")
    # a fixed VHD is the disk followed by a 512-byte footer whose current size is the disk's
    assert inspect(fixed, "vhd") == len(fixed) - 512


def test_raw_and_iso_are_the_data_size():
    assert inspect(b"x" * 1234, "raw") == 1234
    assert inspect(b"x" * 1234, "iso") == 1234


@pytest.mark.parametrize("disk_format", ["qcow2", "vmdk", "vdi", "vhd", "vhdx", "ami", "ploop", None])
def test_mismatched_or_unknown_data_gives_none(disk_format):
    assert inspect(b"\x00garbage" * 100, disk_format) is None
    assert inspect(b"", disk_format) is None


def test_qcow2_truncated_header():
    assert inspect(b"QFI\xfb\x00\x00\x00\x03", "qcow2") is None


# --- what may be stored (FormatInspector.check) ------------------------------------------------------

def checked(data: bytes, disk_format: str) -> str | None:
    """None if the data may be stored as ``disk_format``, else the refusal message."""
    insp = FormatInspector()
    for i in range(0, len(data), 4093):
        insp.feed(data[i:i + 4093])
    try:
        insp.check(disk_format)
    except FormatRejected as e:
        return str(e)
    return None


def test_plain_disks_pass(tmp_path):
    assert checked(qemu_image(tmp_path, "qcow2", "1M"), "qcow2") is None
    assert checked(qemu_image(tmp_path, "qcow2", "1M", "-o", "compat=0.10"), "qcow2") is None
    assert checked(qemu_image(tmp_path, "vmdk", "1M"), "vmdk") is None
    assert checked(qemu_image(tmp_path, "vmdk", "1M", "-o", "subformat=streamOptimized"), "vmdk") is None
    assert checked(qemu_image(tmp_path, "vdi", "1M"), "vdi") is None
    assert checked(qemu_image(tmp_path, "vpc", "1M"), "vhd") is None
    assert checked(qemu_image(tmp_path, "vhdx", "1M"), "vhdx") is None
    assert checked(b"\0" * 4096, "raw") is None and checked(b"random" * 100, "iso") is None


def test_qcow2_backing_file_refused(tmp_path):
    data = qemu_image(tmp_path, "qcow2", "1M", "-b", "/etc/passwd", "-F", "raw")
    assert "backing file" in checked(data, "qcow2")


def test_qcow2_external_data_file_refused(tmp_path):
    data = qemu_image(tmp_path, "qcow2", "1M", "-o", f"data_file={tmp_path / 'data.raw'}")
    assert "external data file" in checked(data, "qcow2")
    raw_data = qemu_image(tmp_path, "qcow2", "1M", "-o",
                          f"data_file={tmp_path / 'data2.raw'},data_file_raw=on")
    assert "external data file" in checked(raw_data, "qcow2")


def test_declared_format_must_match(tmp_path):
    assert "not in the declared disk_format qcow2" in checked(b"not a qcow2 at all" * 100, "qcow2")
    assert "not in the declared disk_format vmdk" in checked(b"\0" * 4096, "vmdk")
    assert "not in the declared disk_format qcow2" in checked(b"", "qcow2")
    qcow = qemu_image(tmp_path, "qcow2", "1M")
    assert "in qcow2 format, not the declared disk_format raw" in checked(qcow, "raw")
    assert "not in the declared disk_format vmdk" in checked(qcow, "vmdk")


def test_vmdk_with_separate_extent_files_refused(tmp_path):
    # A descriptor-only vmdk names other files: its text is not a sparse header.
    subprocess.run(["qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat",
                    str(tmp_path / "flat.vmdk"), "1M"], check=True)
    assert "not in the declared disk_format vmdk" in checked((tmp_path / "flat.vmdk").read_bytes(), "vmdk")
    # A sparse header whose embedded descriptor names two extents, or another createType.
    sparse = bytearray(qemu_image(tmp_path, "vmdk", "1M"))
    text_at = sparse.index(b"createType=")
    patched = bytes(sparse).replace(b'createType="monolithicSparse"', b'createType="vmfs"           ')
    assert "createType 'vmfs'" in checked(patched, "vmdk")
    extent_at = sparse.index(b"RW ", text_at)
    line_end = sparse.index(b"\n", extent_at)
    two = bytes(sparse[:line_end + 1]) + bytes(sparse[extent_at:line_end + 1]) + bytes(sparse[line_end + 1:])
    assert "exactly one extent" in checked(two[:len(sparse)], "vmdk")
