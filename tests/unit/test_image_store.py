"""The file store and the list query parser, without the API."""
from __future__ import annotations

import hashlib

import pytest

from kumo.common.api.errors import BadRequest
from kumo.image import query
from kumo.image.store import FileStore, SizeLimitExceeded

IMAGE_ID = "0b9d7a4c-1111-4222-8333-944455556666"


async def chunks(*parts: bytes):
    for p in parts:
        yield p


async def test_write_read_delete(tmp_path):
    store = FileStore(tmp_path / "images", block_size=8)
    store.prepare()
    seen = []
    stored = await store.write(IMAGE_ID, chunks(b"hello ", b"", b"world, this spans blocks"),
                               size_cap=1000, inspect=seen.append)
    data = b"hello world, this spans blocks"
    assert stored.size == len(data)
    assert stored.md5 == hashlib.md5(data).hexdigest()
    assert stored.sha512 == hashlib.sha512(data).hexdigest()
    assert stored.location == (tmp_path / "images" / IMAGE_ID).resolve().as_uri()
    assert b"".join(seen) == data
    f = await store.open(IMAGE_ID)
    assert b"".join([b async for b in store.iter_file(f)]) == data
    f = await store.open(IMAGE_ID)
    assert b"".join([b async for b in store.iter_file(f, 6, 5)]) == b"world"
    assert f.closed
    assert await store.delete(IMAGE_ID) is True
    assert await store.delete(IMAGE_ID) is False
    with pytest.raises(FileNotFoundError):
        await store.open(IMAGE_ID)


async def test_size_cap_and_failure_remove_partial(tmp_path):
    store = FileStore(tmp_path, block_size=4)
    with pytest.raises(SizeLimitExceeded):
        await store.write(IMAGE_ID, chunks(b"12345", b"678"), size_cap=6)
    assert list(tmp_path.iterdir()) == []

    async def broken():
        yield b"abc"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.write(IMAGE_ID, broken(), size_cap=100)
    assert list(tmp_path.iterdir()) == []


def test_prepare_removes_stale_partials(tmp_path):
    (tmp_path / f"{IMAGE_ID}.partial").write_bytes(b"half")
    (tmp_path / IMAGE_ID).write_bytes(b"whole")
    store = FileStore(tmp_path)
    assert store.prepare() == [IMAGE_ID]
    assert [p.name for p in tmp_path.iterdir()] == [IMAGE_ID]


def test_path_rejects_traversal(tmp_path):
    store = FileStore(tmp_path)
    for bad in ("../etc/passwd", "a/b", "", "x" * 65):
        with pytest.raises(ValueError):
            store.path(bad)


def test_sort_parsing():
    assert query.parse([]).sort == [("created_at", "desc")]
    assert query.parse([("sort_key", "name"), ("sort_key", "size")]).sort == [("name", "desc"), ("size", "desc")]
    assert query.parse([("sort_key", "name"), ("sort_dir", "asc"), ("sort_key", "size"),
                        ("sort_dir", "desc")]).sort == [("name", "asc"), ("size", "desc")]
    assert query.parse([("sort", "name:asc,size")]).sort == [("name", "asc"), ("size", "desc")]
    with pytest.raises(BadRequest):
        query.parse([("sort_key", "name"), ("sort_key", "size"), ("sort_dir", "asc"), ("sort_dir", "asc"),
                     ("sort_dir", "asc")])
    assert query.parse([("limit", "5000")]).limit == query.MAX_LIMIT


async def test_service_start_requeues_interrupted_uploads(tmp_path):
    """After a crash mid-upload: the partial file goes and the image is queued again."""
    from kumo.common.db import Database
    from kumo.image.models import Base, Image
    from kumo.image.service import ImageService

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'image.db'}", Base.metadata)
    store = FileStore(tmp_path / "images")
    svc = ImageService(db, store, size_cap=100)
    await svc.start()
    other = "1b9d7a4c-1111-4222-8333-944455556666"
    async with db.session() as s:
        s.add(Image(id=IMAGE_ID, status="saving", disk_format="raw", container_format="bare"))
        s.add(Image(id=other, status="saving", disk_format="raw", container_format="bare"))
    (tmp_path / "images" / f"{IMAGE_ID}.partial").write_bytes(b"half")
    try:
        await ImageService(db, store, size_cap=100).start()
        async with db.session() as s:
            assert (await s.get(Image, IMAGE_ID)).status == "queued"
            # no partial file here: another node may be uploading it
            assert (await s.get(Image, other)).status == "saving"
        assert list((tmp_path / "images").iterdir()) == []
    finally:
        await db.close()
