"""Multiple stores, copy-image, the cache API and location URL checks (kumo.image.store, cache, locations)."""
from __future__ import annotations

import pytest

from kumo.image.api import component
from tests.api.test_image_support import as_token, create, patch, upload

ADMIN = as_token("admin-token")


def state_of(client):
    return client._transport.apps[client.base_url.netloc.decode()].app.state


@pytest.fixture
async def client(mount):
    return await mount(component)


async def test_upload_to_named_store_and_copy_image(client):
    img = await create(client)
    r = await client.put(f"/v2/images/{img['id']}/file", content=b"x" * 2000,
                         headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": "nope"})
    assert r.status_code == 400
    r = await client.put(f"/v2/images/{img['id']}/file", content=b"x" * 2000,
                         headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": "file2"})
    assert r.status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}")).json()["stores"] == "file2"
    body = {"method": {"name": "copy-image"}, "all_stores": True}
    r = await client.post(f"/v2/images/{img['id']}/import", json=body, headers=ADMIN)
    assert r.status_code == 202
    await state_of(client).imports.drain()
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["stores"] == "file1,file2"  # weight order
    assert shown["os_glance_importing_to_stores"] == "" and shown["os_glance_failed_import"] == ""
    assert (await client.get(f"/v2/images/{img['id']}/file")).content == b"x" * 2000
    # the last store cannot go; another one can (admins only)
    assert (await client.delete(f"/v2/stores/file1/{img['id']}")).status_code == 403
    assert (await client.delete(f"/v2/stores/file1/{img['id']}", headers=ADMIN)).status_code == 204
    assert (await client.delete(f"/v2/stores/file2/{img['id']}", headers=ADMIN)).status_code == 409
    assert (await client.get(f"/v2/images/{img['id']}")).json()["stores"] == "file2"


async def test_cache_queue_serve_and_clear(client):
    img = await create(client)
    assert (await client.put(f"/v2/cache/{img['id']}", headers=ADMIN)).status_code == 400  # queued image
    await upload(client, img["id"], b"y" * 1500)
    assert (await client.get("/v2/cache")).status_code == 403
    assert (await client.put("/v2/cache/00000000-0000-0000-0000-000000000000", headers=ADMIN)).status_code == 404
    assert (await client.put(f"/v2/cache/{img['id']}", headers=ADMIN)).status_code == 202
    await state_of(client).cache.drain()
    cached = (await client.get("/v2/cache", headers=ADMIN)).json()["cached_images"]
    assert [(c["image_id"], c["size"], c["hits"]) for c in cached] == [(img["id"], 1500, 0)]
    assert (await client.get(f"/v2/images/{img['id']}/file")).content == b"y" * 1500
    assert (await client.get("/v2/cache", headers=ADMIN)).json()["cached_images"][0]["hits"] == 1
    r = await client.delete("/v2/cache", headers={**ADMIN, "x-image-cache-clear-target": "bogus"})
    assert r.status_code == 400
    assert (await client.delete("/v2/cache", headers=ADMIN)).status_code == 204
    assert (await client.get("/v2/cache", headers=ADMIN)).json() == {"cached_images": [], "queued_images": []}


async def test_location_urls_are_checked(client):
    other = await create(client)
    await upload(client, other["id"], b"z" * 100)
    other_url = state_of(client).images.stores.file("file1").location(other["id"])
    img = await create(client)
    for url in ("file:///etc/passwd", other_url, "gopher://example.com/x", "ftp://h/x"):
        r = await patch(client, img["id"], [{"op": "add", "path": "/locations/-",
                                              "value": {"url": url, "metadata": {}}}])
        assert r.status_code == 400, url
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["status"] == "queued" and shown["locations"] == []
    r = await client.post(f"/v2/images/{img['id']}/locations", json={"url": "file:///etc/shadow"})
    assert r.status_code == 400
    assert (await client.get(f"/v2/images/{other['id']}/locations")).status_code == 403
