"""Interoperable import: staging, glance-direct, web-download, conversion, tasks, info documents."""
from __future__ import annotations

import hashlib
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kumo.image.api import component
from tests.api.test_image_support import OCTET, as_token, create, upload

ADMIN = as_token("admin-token")


@pytest.fixture
def web():
    """A loopback HTTP server: ``web.files[path] = bytes``; ``web.url(path)``."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.files = files
    server.url = lambda path: f"http://127.0.0.1:{server.server_address[1]}{path}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
async def env(mount, rt):
    client = await mount(component)
    return client, rt


def imports_of(client):
    return client._transport.apps[client.base_url.netloc.decode()].app.state.imports


def qcow2(tmp_path, *options: str, size: str = "1M") -> bytes:
    path = tmp_path / "src.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *options, str(path), size], check=True)
    return path.read_bytes()


def files_under(path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


async def stage(client, image_id: str, data: bytes, token: str = "demo-token"):
    return await client.put(f"/v2/images/{image_id}/stage", content=data, headers={**OCTET, **as_token(token)})


async def start_import(client, image_id: str, method: str, token: str = "demo-token", **extra):
    body = {"method": {"name": method, **extra}}
    return await client.post(f"/v2/images/{image_id}/import", json=body, headers=as_token(token))


async def finished(client, image_id: str) -> dict:
    await imports_of(client).drain()
    return (await client.get(f"/v2/images/{image_id}")).json()


async def test_info_documents(env):
    client, _ = env
    r = await client.post("/v2/images", json={"name": "h"})
    assert r.headers["openstack-image-import-methods"] == "glance-direct,web-download,glance-download,copy-image"
    r = await client.get("/v2/info/import")
    assert r.status_code == 200
    assert r.json()["import-methods"]["value"] == ["glance-direct", "web-download", "glance-download", "copy-image"]
    r = await client.get("/v2/info/stores")
    stores = r.json()["stores"]
    assert [(s["id"], s.get("default", False), s["weight"]) for s in stores] == [
        ("file1", True, 100), ("file2", False, 50), ("web", False, 0)]
    assert stores[2]["read-only"] == "true"
    img = await create(client, name="u")
    await upload(client, img["id"], b"x" * 3000)
    usage = (await client.get("/v2/info/usage")).json()["usage"]
    assert usage["image_count_total"] == {"limit": -1, "usage": 2}
    assert usage["image_size_total"] == {"limit": -1, "usage": 1}  # MiB, rounded up
    assert usage["image_count_uploading"]["usage"] == 0


async def test_glance_direct_with_conversion_and_task(env, settings, tmp_path):
    client, _ = env
    img = await create(client, name="direct", disk_format="raw")
    data = bytes(range(256)) * 4096  # 1 MiB
    r = await stage(client, img["id"], data)
    assert r.status_code == 204, r.text
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["status"] == "uploading" and shown["size"] == len(data)
    assert files_under(settings.image_staging) == [img["id"]]
    r = await start_import(client, img["id"], "glance-direct")
    assert r.status_code == 202, r.text
    request_id = r.headers["x-openstack-request-id"]
    shown = await finished(client, img["id"])
    assert shown["status"] == "active" and shown["stores"] == "file1"
    assert shown["disk_format"] == "qcow2"  # [image] import_target_format
    assert shown["virtual_size"] == len(data)
    assert "os_glance_import_task" not in shown and shown["os_glance_failed_import"] == ""
    assert shown["os_glance_importing_to_stores"] == ""
    stored = (await client.get(f"/v2/images/{img['id']}/file")).content
    assert stored[:4] == b"QFI\xfb" and shown["size"] == len(stored)
    assert shown["checksum"] == hashlib.md5(stored).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(stored).hexdigest()
    back = tmp_path / "back.raw"
    (tmp_path / "got.qcow2").write_bytes(stored)
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(tmp_path / "got.qcow2"),
                    str(back)], check=True)
    assert back.read_bytes() == data
    assert files_under(settings.image_staging) == []
    tasks = (await client.get(f"/v2/images/{img['id']}/tasks")).json()["tasks"]
    assert len(tasks) == 1
    assert tasks[0]["status"] == "success" and tasks[0]["request_id"] == request_id
    assert tasks[0]["type"] == "api_image_import"
    assert tasks[0]["input"]["import_req"]["method"]["name"] == "glance-direct"
    assert tasks[0]["result"] == {"image_id": img["id"]}


async def test_web_download_keeps_bytes_without_conversion(mount, settings, web, tmp_path):
    settings.image.import_target_format = ""
    client = await mount(component)
    data = qcow2(tmp_path)
    web.files["/disk.qcow2"] = data
    img = await create(client, name="web", disk_format="qcow2")
    r = await start_import(client, img["id"], "web-download", uri=web.url("/disk.qcow2"))
    assert r.status_code == 202, r.text
    shown = await finished(client, img["id"])
    assert shown["status"] == "active", shown
    assert shown["checksum"] == hashlib.md5(data).hexdigest() and shown["virtual_size"] == 1024 ** 2
    assert (await client.get(f"/v2/images/{img['id']}/file")).content == data


async def test_web_download_failure_requeues_and_leaves_nothing(env, settings, web, tmp_path):
    client, _ = env
    missing = await create(client, name="missing", disk_format="qcow2")
    assert (await start_import(client, missing["id"], "web-download", uri=web.url("/nope"))).status_code == 202
    web.files["/backed.qcow2"] = qcow2(tmp_path, "-b", "/etc/passwd", "-F", "raw")
    backed = await create(client, name="backed", disk_format="qcow2")
    r = await start_import(client, backed["id"], "web-download", uri=web.url("/backed.qcow2"))
    assert r.status_code == 202
    for img, reason in ((missing, "404"), (backed, "backing file")):
        shown = await finished(client, img["id"])
        assert shown["status"] == "queued" and shown["size"] is None and shown["checksum"] is None
        assert shown["os_glance_failed_import"] == "file1"
        task = (await client.get(f"/v2/images/{img['id']}/tasks")).json()["tasks"][0]
        assert task["status"] == "failure" and reason in task["message"]
    assert files_under(settings.image_staging) == [] and files_under(settings.image_store) == []
    # a failed import can be retried
    web.files["/nope"] = b"\0" * 512
    patch_raw = [{"op": "replace", "path": "/disk_format", "value": "raw"}]
    r = await client.patch(f"/v2/images/{missing['id']}", json=patch_raw,
                           headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert r.status_code == 200
    assert (await start_import(client, missing["id"], "web-download", uri=web.url("/nope"))).status_code == 202
    shown = await finished(client, missing["id"])
    assert shown["status"] == "active" and shown["os_glance_failed_import"] == ""


@pytest.mark.parametrize("extra,status", [
    ({"uri": "file:///etc/passwd"}, 400),
    ({"uri": "gopher://example.com/x"}, 400),
    ({}, 400),
])
async def test_web_download_url_filtering(env, extra, status):
    client, _ = env
    img = await create(client, name="f")
    r = await start_import(client, img["id"], "web-download", **extra)
    assert r.status_code == status
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "queued"


async def test_import_errors(env):
    client, _ = env
    img = await create(client, name="e")
    assert (await start_import(client, img["id"], "glance-direct")).status_code == 409  # nothing staged
    assert (await start_import(client, img["id"], "copy-image")).status_code == 403  # admins only
    assert (await start_import(client, img["id"], "no-such-method")).status_code == 400
    r = await client.post(f"/v2/images/{img['id']}/import", json={"method": "glance-direct"})
    assert r.status_code == 400
    r = await client.post(f"/v2/images/{img['id']}/import",
                          json={"method": {"name": "glance-direct"}, "stores": ["ceph"]})
    assert r.status_code == 409
    assert (await stage(client, img["id"], b"abc", token="alt-token")).status_code == 404
    assert (await stage(client, img["id"], b"abc", token="reader-token")).status_code == 403
    assert (await stage(client, img["id"], b"abc")).status_code == 204
    assert (await stage(client, img["id"], b"abc")).status_code == 409  # already staged
    r = await start_import(client, img["id"], "web-download", uri="http://127.0.0.1:1/x")
    assert r.status_code == 409  # staged images import with glance-direct
    r = await client.put(f"/v2/images/{img['id']}/stage", content=b"x",
                         headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


async def test_stage_size_cap_and_delete_leave_nothing(mount, settings):
    settings.image.image_size_cap = 100
    client = await mount(component)
    img = await create(client, name="big")
    r = await stage(client, img["id"], b"x" * 101)
    assert r.status_code == 413
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "queued"
    assert files_under(settings.image_staging) == []
    assert (await stage(client, img["id"], b"x" * 100)).status_code == 204
    assert (await client.delete(f"/v2/images/{img['id']}")).status_code == 204
    assert files_under(settings.image_staging) == []


async def test_storage_quota(mount, settings):
    settings.image.user_storage_quota = 1000
    client = await mount(component)
    first = await create(client, name="fits")
    assert (await upload(client, first["id"], b"a" * 900)).status_code == 204
    second = await create(client, name="too-big")
    assert (await upload(client, second["id"], b"b" * 200)).status_code == 413
    shown = (await client.get(f"/v2/images/{second['id']}")).json()
    assert shown["status"] == "queued" and shown["size"] is None
    assert (await upload(client, second["id"], b"b" * 100)).status_code == 204


async def test_image_count_quota(mount, settings):
    settings.image.image_count_total = 1
    client = await mount(component)
    await create(client, name="one")
    r = await client.post("/v2/images", json={"name": "two"})
    assert r.status_code == 413


async def test_legacy_import_task(env, web, tmp_path):
    client, _ = env
    web.files["/t.qcow2"] = qcow2(tmp_path)
    body = {"type": "import", "input": {"import_from": web.url("/t.qcow2"), "import_from_format": "qcow2",
                                        "image_properties": {"name": "from-task", "disk_format": "qcow2",
                                                             "container_format": "bare"}}}
    assert (await client.post("/v2/tasks", json=body)).status_code == 403  # tasks API is admin-only
    r = await client.post("/v2/tasks", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["type"] == "import" and task["status"] == "processing"
    assert task["self"] == f"/v2/tasks/{task['id']}" and task["schema"] == "/v2/schemas/task"
    await imports_of(client).drain()
    done = (await client.get(f"/v2/tasks/{task['id']}", headers=ADMIN)).json()
    assert done["status"] == "success" and done["expires_at"]
    image = (await client.get(f"/v2/images/{done['result']['image_id']}", headers=ADMIN)).json()
    assert image["status"] == "active" and image["name"] == "from-task"
    listed = (await client.get("/v2/tasks?status=success", headers=ADMIN)).json()
    assert [t["id"] for t in listed["tasks"]] == [task["id"]] and "input" not in listed["tasks"][0]
    bad = dict(body, type="export")
    assert (await client.post("/v2/tasks", json=bad, headers=ADMIN)).status_code == 400
    bad = {"type": "import", "input": dict(body["input"], import_from="file:///etc/shadow")}
    assert (await client.post("/v2/tasks", json=bad, headers=ADMIN)).status_code == 400
    assert (await client.get("/v2/tasks/nope", headers=ADMIN)).status_code == 404
    for name in ("task", "tasks"):
        r = await client.get(f"/v2/schemas/{name}")
        assert r.status_code == 200 and r.json()["name"] == name


async def test_client_disconnect_mid_stage(env, router, settings):
    """A client gone midway through staging: nothing staged, the image is queued again."""
    client, _ = env
    img = await create(client, name="cut")
    app = router.apps["127.0.0.1:9292"].app
    path = f"/v2/images/{img['id']}/stage"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 9292),
             "headers": [(b"host", b"127.0.0.1:9292"), (b"x-auth-token", b"demo-token"),
                         (b"content-type", b"application/octet-stream")]}
    during = []
    messages = [{"type": "http.request", "body": b"z" * 100_000, "more_body": True},
                {"type": "http.disconnect"}]

    async def receive():
        if len(messages) == 1:
            during.append((files_under(settings.image_staging),
                           (await client.get(f"/v2/images/{img['id']}")).json()["status"]))
        return messages.pop(0)

    async def send(message):
        pass

    await app(scope, receive, send)
    assert during == [([f"{img['id']}.partial"], "uploading")]
    assert files_under(settings.image_staging) == []
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "queued"


async def test_restart_cleans_up_interrupted_work(mount, settings):
    """After a crash: interrupted imports and stages are queued again, their tasks failed, partial
    data removed; a completed stage survives."""
    from kumo.common.auth.context import RequestContext
    from kumo.image.models import Image

    client = await mount(component)
    svc = imports_of(client)
    importing, staged, half = [await create(client, name=n) for n in ("importing", "staged", "half")]
    for img in (importing, staged):
        assert (await stage(client, img["id"], b"\0" * 1024)).status_code == 204
    ctx = RequestContext(project_id=importing["owner"], roles=["member"], request_id="req-crash")
    task = await svc.tasks.add(ctx, "api_image_import", {"image_id": importing["id"]}, importing["id"])
    async with svc.images.db.session() as s:
        (await s.get(Image, importing["id"])).status = "importing"
        (await s.get(Image, half["id"])).status = "uploading"
    (settings.image_staging / f"{half['id']}.partial").write_bytes(b"cut short")

    client = await mount(component)  # the restart
    status = {img["name"]: (await client.get(f"/v2/images/{img['id']}")).json()["status"]
              for img in (importing, staged, half)}
    assert status == {"importing": "queued", "staged": "uploading", "half": "queued"}
    assert files_under(settings.image_staging) == [staged["id"]]
    tasks = (await client.get(f"/v2/images/{importing['id']}/tasks")).json()["tasks"]
    assert [t["id"] for t in tasks] == [task.id] and tasks[0]["status"] == "failure"


@pytest.fixture
def image_catalog(monkeypatch):
    """Tokens whose catalog lists the in-process image API in RegionOne (public interface)."""
    from tests import fakes
    plain = fakes.token_body

    def with_catalog(token):
        body = plain(token)
        body["token"]["catalog"] = [{"type": "image", "name": "glance", "endpoints": [
            {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
             "url": "http://127.0.0.1:9292"}]}]
        return body
    monkeypatch.setattr(fakes, "token_body", with_catalog)


async def glance_download(client, image_id, source_id, region="RegionOne"):
    return await start_import(client, image_id, "glance-download", glance_image_id=source_id,
                              glance_region=region, glance_service_interface="public")


async def test_glance_download_copies_data_formats_and_properties(env, image_catalog, tmp_path):
    client, _ = env
    src = await create(client, name="src", disk_format="qcow2", hw_cpu_cores="5", os_distro="rhel",
                       speed="88mph", **{"trait:STORAGE_DISK_SSD": "required"})
    data = qcow2(tmp_path)
    assert (await upload(client, src["id"], data)).status_code == 204
    dst = await create(client, name="dst", disk_format="iso", container_format="ovf",
                       hw_cpu_cores="1", os_distro="windows")
    r = await glance_download(client, dst["id"], src["id"])
    assert r.status_code == 202, r.text
    shown = await finished(client, dst["id"])
    assert shown["status"] == "active", shown
    assert (shown["disk_format"], shown["container_format"]) == ("qcow2", "bare")
    assert shown["hw_cpu_cores"] == "5" and shown["os_distro"] == "rhel"
    assert shown["trait:STORAGE_DISK_SSD"] == "required" and "speed" not in shown
    assert (await client.get(f"/v2/images/{dst['id']}/file")).content == data
    task = (await client.get(f"/v2/images/{dst['id']}/tasks")).json()["tasks"][0]
    assert task["status"] == "success"


async def test_glance_download_failures(env, image_catalog):
    client, _ = env
    dst = await create(client, name="dst", hw_cpu_cores="1")
    r = await glance_download(client, dst["id"], "foo")
    assert r.status_code == 400 and "image id does not look like a UUID" in r.text
    missing = "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c"
    for region, source, reason in (("not a region", missing, "no image API in region"),
                                   ("RegionOne", missing, "HTTP 404")):
        assert (await glance_download(client, dst["id"], source, region)).status_code == 202
        shown = await finished(client, dst["id"])
        assert shown["status"] == "queued" and shown["hw_cpu_cores"] == "1"
        task = (await client.get(f"/v2/images/{dst['id']}/tasks")).json()["tasks"][-1]
        assert task["status"] == "failure" and reason in task["message"], task
    # another project's private image cannot be read with the caller's token
    private = await create(client, "alt-token", name="alt-private", visibility="private")
    assert (await upload(client, private["id"], b"\0" * 512, token="alt-token")).status_code == 204
    assert (await glance_download(client, dst["id"], private["id"])).status_code == 202
    assert (await finished(client, dst["id"]))["status"] == "queued"
