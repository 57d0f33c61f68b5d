"""qemu-img wrappers, the bootable-disk check, the image cache and instance disks.

These run the real ``qemu-img`` on small files in a temporary directory.
"""
from __future__ import annotations

import asyncio
import hashlib
import subprocess

import pytest

from kumo.common.host import qemu_img
from kumo.common.host.process import HostError
from kumo.compute.virt.base import InstancePaths, VirtError
from kumo.compute.virt.disk import FlavorDiskTooSmall, create_disks, remove_instance_dir
from kumo.compute.virt.images import CachedImage, ImageCache, ImageError, ImageNotBootable, verify_disk

MiB = 1024 * 1024


def mbr_disk(size=MiB) -> bytes:
    data = bytearray(size)
    data[510:512] = b"\x55\xaa"
    return bytes(data)


def gpt_disk(size=MiB) -> bytes:
    data = bytearray(size)
    data[512:520] = b"EFI PART"
    return bytes(data)


def make_qcow2(path, size="4M", backing=None):
    cmd = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        cmd += ["-F", "raw", "-b", str(backing)]
    subprocess.run(cmd + [str(path), size], check=True)
    return path


# -- qemu_img ---------------------------------------------------------------
async def test_info_and_overlay(tmp_path):
    base = make_qcow2(tmp_path / "base.qcow2", "8M")
    info = await qemu_img.info(base)
    assert info["format"] == "qcow2" and info["virtual-size"] == 8 * MiB
    await qemu_img.create_overlay(base, tmp_path / "disk", 1, "qcow2")
    over = await qemu_img.info(tmp_path / "disk", fmt="qcow2")
    assert over["virtual-size"] == 1024 * MiB
    assert over["backing-filename"] == str(base)
    await qemu_img.create_overlay(base, tmp_path / "same", None, "qcow2")
    assert (await qemu_img.info(tmp_path / "same"))["virtual-size"] == 8 * MiB


async def test_info_with_wrong_format_fails(tmp_path):
    (tmp_path / "raw").write_bytes(mbr_disk())
    with pytest.raises(HostError, match="qcow2"):
        await qemu_img.info(tmp_path / "raw", fmt="qcow2")


async def test_convert(tmp_path):
    (tmp_path / "raw").write_bytes(mbr_disk())
    await qemu_img.convert(tmp_path / "raw", tmp_path / "out.vmdk", "raw", "vmdk")
    assert (await qemu_img.info(tmp_path / "out.vmdk"))["format"] == "vmdk"


# -- verify_disk ------------------------------------------------------------
async def test_raw_with_mbr_or_gpt_is_bootable(tmp_path):
    for name, data in (("mbr", mbr_disk()), ("gpt", gpt_disk())):
        (tmp_path / name).write_bytes(data)
        info = await verify_disk(tmp_path / name, "raw", "img")
        assert info["virtual-size"] == MiB


async def test_raw_without_boot_sector_is_refused(tmp_path):
    (tmp_path / "zeros").write_bytes(bytes(MiB))
    with pytest.raises(ImageNotBootable) as e:
        await verify_disk(tmp_path / "zeros", "raw", "img-9")
    assert str(e.value) == ("Image img-9 is not a bootable disk: "
                            "no MBR boot signature or partition table")


async def test_qcow2_declared_raw_is_refused(tmp_path):
    make_qcow2(tmp_path / "q")
    with pytest.raises(ImageNotBootable, match="data is a qcow2 image"):
        await verify_disk(tmp_path / "q", "raw", "img")


async def test_qcow2_must_parse_as_qcow2(tmp_path):
    (tmp_path / "fake").write_bytes(mbr_disk())
    with pytest.raises(ImageNotBootable, match="not a valid qcow2 image"):
        await verify_disk(tmp_path / "fake", "qcow2", "img")
    make_qcow2(tmp_path / "good")
    assert (await verify_disk(tmp_path / "good", "qcow2", "img"))["format"] == "qcow2"


async def test_qcow2_with_backing_file_is_refused(tmp_path):
    (tmp_path / "host-secret").write_bytes(mbr_disk())
    make_qcow2(tmp_path / "evil", "1M", backing=tmp_path / "host-secret")
    with pytest.raises(ImageNotBootable, match="backing file"):
        await verify_disk(tmp_path / "evil", "qcow2", "img")


async def test_unsupported_format(tmp_path):
    (tmp_path / "iso").write_bytes(mbr_disk())
    with pytest.raises(ImageError, match="unsupported disk_format 'iso'"):
        await verify_disk(tmp_path / "iso", "iso", "img")


# -- ImageCache -------------------------------------------------------------
def source(data: bytes, counter: list | None = None, chunk=64 * 1024):
    async def download(write):
        if counter is not None:
            counter.append(1)
        for i in range(0, len(data), chunk):
            await asyncio.sleep(0)
            await write(data[i:i + chunk])
    return download


def meta(image_id="img-1", data=mbr_disk(), fmt="raw", **over):
    m = {"id": image_id, "disk_format": fmt, "size": len(data),
         "checksum": hashlib.md5(data).hexdigest(),
         "os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(data).hexdigest()}
    m.update(over)
    return m


async def test_cache_downloads_once_for_concurrent_builds(tmp_path):
    cache = ImageCache(tmp_path)
    data, calls = mbr_disk(), []
    results = await asyncio.gather(*[cache.fetch(meta(data=data), source(data, calls)) for _ in range(4)])
    assert calls == [1]
    assert all(r == CachedImage(tmp_path / "_base" / "img-1", "raw", MiB) for r in results)
    assert (tmp_path / "_base" / "img-1").read_bytes() == data
    assert (tmp_path / "_base" / "img-1").stat().st_mode & 0o777 == 0o644
    await cache.fetch(meta(data=data), source(data, calls))
    assert calls == [1]
    assert sorted(p.name for p in (tmp_path / "_base").iterdir()) == ["img-1"]


@pytest.mark.parametrize("bad", [{"os_hash_value": "00" * 64}, {"os_hash_algo": None, "checksum": "0" * 32},
                                 {"size": MiB + 1}])
async def test_cache_rejects_corrupt_downloads_and_keeps_nothing(tmp_path, bad):
    cache = ImageCache(tmp_path)
    data = mbr_disk()
    with pytest.raises(ImageError, match="img-1"):
        await cache.fetch(meta(data=data, **bad), source(data))
    assert list((tmp_path / "_base").iterdir()) == []


async def test_cache_keeps_nothing_when_not_bootable_or_download_breaks(tmp_path):
    cache = ImageCache(tmp_path)
    zeros = bytes(MiB)
    with pytest.raises(ImageNotBootable):
        await cache.fetch(meta(data=zeros), source(zeros))

    async def broken(write):
        await write(b"x" * 1000)
        raise ImageError("Image img-1 download failed: connection reset")

    with pytest.raises(ImageError, match="connection reset"):
        await cache.fetch(meta(), broken)
    assert list((tmp_path / "_base").iterdir()) == []


async def test_cache_converts_vmdk_to_qcow2(tmp_path):
    (tmp_path / "raw").write_bytes(mbr_disk())
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", str(tmp_path / "raw"),
                    str(tmp_path / "src.vmdk")], check=True)
    data = (tmp_path / "src.vmdk").read_bytes()
    got = await ImageCache(tmp_path / "inst").fetch(meta(data=data, fmt="vmdk"), source(data))
    assert got.format == "qcow2"
    assert (await qemu_img.info(got.path))["format"] == "qcow2"


async def test_cache_refuses_bad_ids_and_formats(tmp_path):
    cache = ImageCache(tmp_path)
    with pytest.raises(ImageError, match="invalid id"):
        await cache.fetch(meta(image_id="../etc"), source(b""))
    with pytest.raises(ImageError, match="unsupported disk_format"):
        await cache.fetch(meta(fmt="iso"), source(b""))


def test_prepare_removes_partial_downloads(tmp_path):
    cache = ImageCache(tmp_path)
    cache.prepare()
    (cache.dir / "img.part-1234abcd").write_bytes(b"half")
    (cache.dir / "img2").write_bytes(b"whole")
    cache.prepare()
    assert [p.name for p in cache.dir.iterdir()] == ["img2"]


# -- instance disks ---------------------------------------------------------
@pytest.fixture
async def cached(tmp_path):
    data = mbr_disk(4 * MiB)
    return await ImageCache(tmp_path).fetch(meta(data=data), source(data))


async def test_root_overlay(tmp_path, cached):
    paths = InstancePaths(tmp_path, "vm1")
    disks = await create_disks(paths, cached, {"disk": 1, "ephemeral": 0, "swap": 0})
    assert disks == {"vda": paths.disk}
    info = await qemu_img.info(paths.disk, fmt="qcow2")
    assert info["virtual-size"] == 1024 * MiB
    assert info["backing-filename"] == str(cached.path)
    assert info["backing-filename-format"] == "raw"
    assert paths.dir.stat().st_mode & 0o777 == 0o755
    await remove_instance_dir(paths)
    assert not paths.dir.exists()


async def test_zero_disk_flavor_keeps_image_size(tmp_path, cached):
    paths = InstancePaths(tmp_path, "vm0")
    await create_disks(paths, cached, {"disk": 0})
    assert (await qemu_img.info(paths.disk))["virtual-size"] == 4 * MiB


async def test_ephemeral_and_swap(tmp_path, cached):
    paths = InstancePaths(tmp_path, "vm2")
    disks = await create_disks(paths, cached, {"disk": 1, "ephemeral": 1, "swap": 64})
    assert disks == {"vda": paths.disk, "vdb": paths.disk_local, "vdc": paths.disk_swap}
    assert paths.disk_local.stat().st_size == 1024 * MiB
    assert paths.disk_swap.stat().st_size == 64 * MiB
    with open(paths.disk_local, "rb") as f:
        f.seek(1024)  # the ext4 superblock: magic 0xEF53 at 56, volume name at 120
        sb = f.read(136)
    assert sb[56:58] == b"\x53\xef"
    assert sb[120:136].rstrip(b"\0") == b"ephemeral0"
    with open(paths.disk_swap, "rb") as f:
        f.seek(4096 - 10)
        assert f.read(10) == b"SWAPSPACE2"


async def test_swap_only_gets_vdb(tmp_path, cached):
    paths = InstancePaths(tmp_path, "vm3")
    disks = await create_disks(paths, cached, {"disk": 1, "swap": 32})
    assert disks == {"vda": paths.disk, "vdb": paths.disk_swap}


async def test_flavor_too_small_makes_nothing(tmp_path):
    big = CachedImage(tmp_path / "nope", "raw", 3 * 1024 * MiB)
    paths = InstancePaths(tmp_path, "vm4")
    with pytest.raises(FlavorDiskTooSmall, match="Flavor's disk is too small for requested image"):
        await create_disks(paths, big, {"disk": 2})
    assert not paths.dir.exists()


async def test_failed_overlay_removes_the_directory(tmp_path):
    missing = CachedImage(tmp_path / "gone", "raw", MiB)
    paths = InstancePaths(tmp_path, "vm5")
    with pytest.raises(VirtError, match="Failed to create the instance disks"):
        await create_disks(paths, missing, {"disk": 1})
    assert not paths.dir.exists()


async def test_a_damaged_cache_entry_is_dropped(tmp_path):
    cache = ImageCache(tmp_path)
    data, calls = mbr_disk(), []
    await cache.fetch(meta(data=data), source(data, calls))
    cache.path("img-1").write_bytes(bytes(MiB))  # the boot sector is gone
    with pytest.raises(ImageNotBootable):
        await cache.fetch(meta(data=data), source(data, calls))
    assert not cache.path("img-1").exists()
    await cache.fetch(meta(data=data), source(data, calls))
    assert calls == [1, 1]
