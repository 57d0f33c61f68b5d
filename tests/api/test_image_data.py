"""Image data: upload, download, hashes, virtual size, failures and cleanup."""
from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess

import pytest

from tests.api.test_image_support import OCTET, as_token, create, image_client, upload


@pytest.fixture
async def client(mount):
    return await image_client(mount)


def store_files(settings) -> list[str]:
    root = settings.image_store
    return sorted(os.listdir(root)) if root.exists() else []


async def test_upload_download_roundtrip(client, settings):
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several store blocks
    img = await create(client, name="blob")
    r = await upload(client, img["id"], data)
    assert r.status_code == 204, r.text
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert shown["virtual_size"] == len(data)  # raw
    r = await client.get(f"/v2/images/{img['id']}/file")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-md5"] == hashlib.md5(data).hexdigest()
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-type"] == "application/octet-stream"
    assert store_files(settings) == [img["id"]]


async def test_streamed_chunked_upload(client):
    pieces = [b"a" * 1000, b"b" * 70000, b"c"]

    async def body():
        for p in pieces:
            yield p

    img = await create(client, name="chunked")
    r = await client.put(f"/v2/images/{img['id']}/file", content=body(), headers=OCTET)
    assert r.status_code == 204
    data = b"".join(pieces)
    assert (await client.get(f"/v2/images/{img['id']}/file")).content == data
    assert (await client.get(f"/v2/images/{img['id']}")).json()["checksum"] == hashlib.md5(data).hexdigest()


async def test_range_download(client):
    img = await create(client, name="r")
    await upload(client, img["id"], b"0123456789")
    url = f"/v2/images/{img['id']}/file"
    r = await client.get(url, headers={"Range": "bytes=2-5"})
    assert r.status_code == 206 and r.content == b"2345"
    assert r.headers["content-range"] == "bytes 2-5/10"
    r = await client.get(url, headers={"Range": "bytes=-3"})
    assert r.status_code == 206 and r.content == b"789"
    r = await client.get(url, headers={"Range": "bytes=7-"})
    assert r.status_code == 206 and r.content == b"789"
    r = await client.get(url, headers={"Range": "bytes=20-30"})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */10"
    r = await client.get(url, headers={"Range": "pages=1-2"})
    assert r.status_code == 416


async def test_download_without_data_204(client):
    img = await create(client, name="empty")
    r = await client.get(f"/v2/images/{img['id']}/file")
    assert r.status_code == 204 and r.content == b""


async def test_empty_upload_is_active(client):
    img = await create(client, name="zero")
    assert (await upload(client, img["id"], b"")).status_code == 204
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["status"] == "active" and shown["size"] == 0
    assert shown["checksum"] == hashlib.md5(b"").hexdigest()
    r = await client.get(f"/v2/images/{img['id']}/file")
    assert r.status_code == 200 and r.content == b""


async def test_upload_to_active_409(client):
    img = await create(client, name="once")
    assert (await upload(client, img["id"], b"first")).status_code == 204
    r = await upload(client, img["id"], b"second")
    assert r.status_code == 409
    assert (await client.get(f"/v2/images/{img['id']}/file")).content == b"first"


async def test_upload_needs_octet_stream_and_formats(client):
    img = await create(client, name="ct")
    r = await client.put(f"/v2/images/{img['id']}/file", content=b"x",
                         headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    r = await client.post("/v2/images", json={"name": "noformat"})
    bare = r.json()
    r = await upload(client, bare["id"], b"x")
    assert r.status_code == 400
    assert "disk_format" in r.text
    assert (await client.get(f"/v2/images/{bare['id']}")).json()["status"] == "queued"


async def test_qcow2_virtual_size_from_header(client, tmp_path):
    path = tmp_path / "x.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(path), "1G"], check=True,
                   capture_output=True)
    data = path.read_bytes()
    img = await create(client, name="q", disk_format="qcow2")
    assert (await upload(client, img["id"], data)).status_code == 204
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["virtual_size"] == 1024 ** 3
    assert shown["size"] == len(data)


async def test_qcow2_format_with_other_data_is_refused(client, settings):
    img = await create(client, name="fake-qcow2", disk_format="qcow2")
    r = await upload(client, img["id"], b"not a qcow2 file at all" * 10)
    assert r.status_code == 400 and "disk_format qcow2" in r.text
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["status"] == "queued" and shown["size"] is None and shown["checksum"] is None
    assert list(settings.image_store.iterdir()) == []


async def test_iso_and_other_formats_virtual_size(client):
    iso = await create(client, name="iso", disk_format="iso")
    await upload(client, iso["id"], b"\0" * 4096)
    assert (await client.get(f"/v2/images/{iso['id']}")).json()["virtual_size"] == 4096
    ami = await create(client, name="ami", disk_format="ami", container_format="ami")
    await upload(client, ami["id"], b"\0" * 4096)
    assert (await client.get(f"/v2/images/{ami['id']}")).json()["virtual_size"] is None


async def test_delete_removes_file(client, settings):
    img = await create(client, name="del")
    await upload(client, img["id"], b"payload")
    assert (settings.image_store / img["id"]).exists()
    assert (await client.delete(f"/v2/images/{img['id']}")).status_code == 204
    assert not (settings.image_store / img["id"]).exists()
    assert store_files(settings) == []


async def test_failed_upload_leaves_nothing(client, settings):
    """A body that breaks mid-way: no partial file, image queued again, retry works."""
    img = await create(client, name="broken")

    async def failing():
        yield b"x" * 200_000
        raise OSError("connection reset")

    with pytest.raises(OSError):
        await client.put(f"/v2/images/{img['id']}/file", content=failing(), headers=OCTET)
    assert store_files(settings) == []
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["status"] == "queued" and shown["size"] is None and shown["checksum"] is None
    assert (await upload(client, img["id"], b"retry")).status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}/file")).content == b"retry"


async def test_client_disconnect_mid_upload(client, router, settings):
    """An ASGI disconnect in the middle of the body: the partial file goes, status returns to queued."""
    img = await create(client, name="disconnect")
    app = router.apps["127.0.0.1:9292"].app
    path = f"/v2/images/{img['id']}/file"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 9292),
             "headers": [(b"host", b"127.0.0.1:9292"), (b"x-auth-token", b"demo-token"),
                         (b"content-type", b"application/octet-stream"),
                         (b"content-length", b"10000000")]}
    seen_partial = []
    messages = [{"type": "http.request", "body": b"y" * 100_000, "more_body": True},
                {"type": "http.request", "body": b"y" * 100_000, "more_body": True},
                {"type": "http.disconnect"}]

    async def receive():
        if len(messages) == 1:  # before the disconnect, the partial file exists
            seen_partial.extend(store_files(settings))
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)

    sent = []

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    assert seen_partial == [f"{img['id']}.partial"]
    assert store_files(settings) == []
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "queued"


async def test_size_cap_413(mount, settings):
    settings.image.image_size_cap = 1000
    client = await image_client(mount)
    img = await create(client, name="big")
    r = await upload(client, img["id"], b"z" * 1001)  # Content-Length says too much
    assert r.status_code == 413

    async def stream():
        for _ in range(3):
            yield b"z" * 400

    r = await client.put(f"/v2/images/{img['id']}/file", content=stream(), headers=OCTET)
    assert r.status_code == 413  # found while streaming
    assert store_files(settings) == []
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "queued"
    assert (await upload(client, img["id"], b"z" * 1000)).status_code == 204


async def test_delete_during_upload_keeps_no_data(client, settings):
    img = await create(client, name="racing")
    started = asyncio.Event()
    proceed = asyncio.Event()

    async def slow():
        yield b"a" * 1000
        started.set()
        await proceed.wait()
        yield b"b" * 1000

    task = asyncio.create_task(client.put(f"/v2/images/{img['id']}/file", content=slow(), headers=OCTET))
    await started.wait()
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "saving"
    r = await upload(client, img["id"], b"second")
    assert r.status_code == 409  # already saving
    assert (await client.delete(f"/v2/images/{img['id']}")).status_code == 204
    proceed.set()
    r = await task
    assert r.status_code == 410
    assert store_files(settings) == []


async def test_other_project_cannot_download_private(client):
    img = await create(client, name="secret", visibility="private")
    await upload(client, img["id"], b"secret")
    r = await client.get(f"/v2/images/{img['id']}/file", headers=as_token("alt-token"))
    assert r.status_code == 404
    r = await client.get(f"/v2/images/{img['id']}/file", headers=as_token("reader-token"))
    assert r.status_code == 200 and r.content == b"secret"


async def test_head_download_sends_headers_only(client):
    img = await create(client, name="head")
    await upload(client, img["id"], b"0123456789")
    r = await client.head(f"/v2/images/{img['id']}/file")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == "10"
    assert r.headers["content-md5"] == hashlib.md5(b"0123456789").hexdigest()


async def test_notifications(client, rt):
    events = []

    async def collect(event_type, payload):
        events.append((event_type, payload["id"], payload["status"]))

    rt.bus.subscribe("image.", collect)
    img = await create(client, name="n")
    await upload(client, img["id"], b"x")
    await client.delete(f"/v2/images/{img['id']}")
    await rt.bus.drain()
    assert events == [("image.create", img["id"], "queued"), ("image.upload", img["id"], "active"),
                      ("image.activate", img["id"], "active"), ("image.delete", img["id"], "deleted")]


@pytest.mark.parametrize("options,reason", [
    (["-b", "/etc/passwd", "-F", "raw"], "backing file"),
    (["-o", "data_file=SCRATCH"], "external data file"),
])
async def test_qcow2_naming_host_files_is_refused(client, settings, tmp_path, options, reason):
    path = tmp_path / "evil.qcow2"
    cmd = ["qemu-img", "create", "-q", "-f", "qcow2", *options, str(path), "1M"]
    if options[-1] == "data_file=SCRATCH":  # qemu-img creates the data file: a scratch path
        cmd[cmd.index(options[-1])] = f"data_file={tmp_path / 'scratch.raw'}"
    subprocess.run(cmd, check=True)
    img = await create(client, name="evil", disk_format="qcow2")
    r = await upload(client, img["id"], path.read_bytes())
    assert r.status_code == 400 and reason in r.text
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["status"] == "queued" and shown["checksum"] is None
    assert list(settings.image_store.iterdir()) == []
