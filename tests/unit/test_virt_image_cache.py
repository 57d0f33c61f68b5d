"""Image cache reference counts and ageing (kumo.compute.virt.images) on hand-made files:
qcow2 headers naming a backing file, mtimes as the last use, a fake clock."""
from __future__ import annotations

import asyncio
import os

from kumo.compute.virt.images import QCOW2_MAGIC, ImageCache, backing_file

DAY = 86400
U1, U2 = "44444444-0000-4000-8000-000000000001", "44444444-0000-4000-8000-000000000002"


def qcow2_overlay(path, backing: str | None) -> None:
    """A qcow2 v3 header (72 bytes) with the backing file name right after it."""
    name = (backing or "").encode()
    head = bytearray(72)
    head[0:4] = QCOW2_MAGIC
    head[4:8] = (3).to_bytes(4, "big")
    if name:
        head[8:16] = (72).to_bytes(8, "big")
        head[16:20] = len(name).to_bytes(4, "big")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(head) + name)


def cache_with(tmp_path, *image_ids, mtime=1_000_000.0) -> ImageCache:
    cache = ImageCache(tmp_path)
    cache.prepare()
    for image_id in image_ids:
        cache.path(image_id).write_bytes(b"\0" * 512)
        os.utime(cache.path(image_id), (mtime, mtime))
    return cache


def test_backing_file_of_qcow2_raw_and_missing_files(tmp_path):
    qcow2_overlay(tmp_path / "a", "/x/_base/img")
    qcow2_overlay(tmp_path / "b", None)
    (tmp_path / "raw").write_bytes(b"\0" * 1024)
    assert backing_file(tmp_path / "a") == "/x/_base/img"
    assert backing_file(tmp_path / "b") is None
    assert backing_file(tmp_path / "raw") is None
    assert backing_file(tmp_path / "nope") is None


def test_usage_counts_instances_by_backing_file_and_image_ref(tmp_path):
    cache = cache_with(tmp_path, "img-a", "img-b", "img-c")
    qcow2_overlay(tmp_path / U1 / "disk", str(cache.path("img-a")))
    qcow2_overlay(tmp_path / U1 / "disk.rescue", str(cache.path("img-b")))
    qcow2_overlay(tmp_path / U2 / "disk", str(cache.path("img-a")))
    qcow2_overlay(tmp_path / "elsewhere" / "disk", "/other/_base/img-c")  # not this cache
    (cache.dir / "img-c.part-1234").write_bytes(b"partial")  # a download in progress: not cached yet
    building = {"uuid": "44444444-0000-4000-8000-000000000003", "image_ref": "img-c"}
    assert cache.usage() == {"img-a": 2, "img-b": 1, "img-c": 0}
    assert cache.usage([building, {"uuid": U1, "image_ref": "img-a"}]) == {"img-a": 2, "img-b": 1, "img-c": 1}


def test_age_removes_only_unused_images_past_max_age(tmp_path):
    cache = cache_with(tmp_path, "used", "old", "young", mtime=1_000_000.0)
    os.utime(cache.path("young"), (1_000_000.0 + DAY, 1_000_000.0 + DAY))
    now = 1_000_000.0 + DAY + 10
    removed = cache.age({"used": 1, "old": 0, "young": 0}, DAY, now=now)
    assert removed == ["old"]
    assert cache.cached() == ["used", "young"]
    assert cache.path("used").stat().st_mtime == now  # in use: its last use is now
    # much later, the in-use one is still kept
    assert cache.age({"used": 3, "young": 0}, DAY, now=now + 10 * DAY) == ["young"]
    assert cache.cached() == ["used"]


def test_age_keeps_unlisted_images_and_images_being_fetched(tmp_path):
    cache = cache_with(tmp_path, "unlisted", "fetching")
    lock = cache._locks.setdefault("fetching", asyncio.Lock())

    async def hold():
        async with lock:
            return cache.age({"fetching": 0}, 0, now=2_000_000_000.0)

    assert asyncio.run(hold()) == []
    assert cache.cached() == ["fetching", "unlisted"]
    assert cache.age({"fetching": 0}, 0, now=2_000_000_000.0) == ["fetching"]
