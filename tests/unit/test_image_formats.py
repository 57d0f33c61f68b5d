"""Virtual sizes read from disk headers, checked against qemu-img."""
from __future__ import annotations

import json
import subprocess

import pytest

from kumo.image.formats import FormatInspector


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
