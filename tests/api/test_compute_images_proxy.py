"""Compute API: the /v2.1/images proxy to the image API (up to 2.35) and /v2.1/extensions."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from tempest.lib.api_schema.response.compute.v2_1 import extensions as ext_schema
from tempest.lib.api_schema.response.compute.v2_1 import images as schema

from kumo.compute import api as compute_api
from tests.api.test_compute_fakes import mv, validate
from tests.api.test_image_support import as_token, create, image_client, upload


@pytest.fixture
async def env(mount):
    glance = await image_client(mount)
    nova = await mount(compute_api.component)
    return SimpleNamespace(glance=glance, nova=nova)


async def active_image(env, token="demo-token", **body) -> str:
    image = await create(env.glance, token, **body)
    r = await upload(env.glance, image["id"], b"*" * 1024, token)
    assert r.status_code == 204, r.text
    return image["id"]


async def test_list_show_and_filters(env):
    one = await active_image(env, name="one", min_ram=256, instance_uuid="srv-1", image_type="snapshot")
    two = await active_image(env, name="two", min_disk=5)
    queued = (await create(env.glance, name="queued"))["id"]
    private_alt = await active_image(env, "alt-token", name="alt", visibility="private")

    r = await env.nova.get("/v2.1/images")
    validate(schema.list_images, r)
    assert {i["id"] for i in r.json()["images"]} == {one, two, queued}  # not alt's private image
    r = await env.nova.get("/v2.1/images/detail")
    validate(schema.list_images_details, r)
    by_id = {i["id"]: i for i in r.json()["images"]}
    assert by_id[one]["status"] == "ACTIVE" and by_id[one]["progress"] == 100
    assert by_id[queued]["status"] == "SAVING"
    assert by_id[one]["minRam"] == 256 and by_id[two]["minDisk"] == 5
    assert by_id[one]["metadata"] == {"instance_uuid": "srv-1", "image_type": "snapshot"}
    assert by_id[one]["server"]["id"] == "srv-1" and "server" not in by_id[two]
    assert by_id[one]["OS-EXT-IMG-SIZE:size"] == 1024
    assert [link["rel"] for link in by_id[one]["links"]] == ["self", "bookmark", "alternate"]

    async def ids(**params) -> set[str]:
        r = await env.nova.get("/v2.1/images/detail", params=params)
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["images"]}
    assert await ids(name="one") == {one}
    assert await ids(status="ACTIVE") == {one, two}
    assert await ids(server="srv-1") == {one}
    assert await ids(server="http://x/v2.1/servers/srv-1") == {one}
    assert await ids(type="snapshot") == {one}
    assert await ids(minRam=200) == {one}
    assert await ids(minDisk=1) == {two}
    assert await ids(**{"changes-since": "2999-01-01T00:00:00Z"}) == set()
    r = await env.nova.get("/v2.1/images", params={"limit": 1})
    assert len(r.json()["images"]) == 1 and r.json()["images_links"][0]["rel"] == "next"
    first = r.json()["images"][0]["id"]
    r = await env.nova.get("/v2.1/images", params={"marker": first})
    assert first not in {i["id"] for i in r.json()["images"]} and len(r.json()["images"]) == 2
    assert (await env.nova.get("/v2.1/images", params={"minRam": "x"})).status_code == 400

    r = await env.nova.get(f"/v2.1/images/{one}")
    validate(schema.get_image, r)
    assert r.json()["image"]["name"] == "one"
    r = await env.nova.get(f"/v2.1/images/{private_alt}")
    assert r.status_code == 404 and r.json() == {"itemNotFound": {"code": 404, "message": "Image not found."}}
    assert (await env.nova.get(f"/v2.1/images/{one}", headers=mv("2.36"))).status_code == 404
    assert (await env.nova.get("/v2.1/images", headers=mv("2.35"))).status_code == 200


async def test_metadata_and_delete(env):
    image_id = await active_image(env, name="img", os_distro="debian")
    url = f"/v2.1/images/{image_id}/metadata"
    r = await env.nova.get(url)
    validate(schema.image_metadata, r)
    assert r.json() == {"metadata": {"os_distro": "debian"}}
    r = await env.nova.post(url, json={"metadata": {"os_version": "12"}})
    assert r.json() == {"metadata": {"os_distro": "debian", "os_version": "12"}}
    r = await env.nova.put(url, json={"metadata": {"architecture": "x86_64", "os_version": "13"}})
    assert r.status_code == 200 and r.json() == {"metadata": {"architecture": "x86_64", "os_version": "13"}}
    assert (await env.nova.get(url)).json()["metadata"] == {"architecture": "x86_64", "os_version": "13"}

    r = await env.nova.get(f"{url}/os_version")
    validate(schema.image_meta_item, r)
    assert r.json() == {"meta": {"os_version": "13"}}
    r = await env.nova.put(f"{url}/os_version", json={"meta": {"os_version": "14"}})
    assert r.json() == {"meta": {"os_version": "14"}}
    assert (await env.nova.put(f"{url}/os_version", json={"meta": {"other": "1"}})).status_code == 400
    assert (await env.nova.put(f"{url}/a", json={"meta": {"a": "1", "b": "2"}})).status_code == 400
    assert (await env.nova.delete(f"{url}/os_version")).status_code == 204
    assert (await env.nova.get(f"{url}/os_version")).status_code == 404
    assert (await env.nova.delete(f"{url}/os_version")).status_code == 404
    assert (await env.nova.post(url, json={"metadata": "x"})).status_code == 400
    # another project's user cannot change it
    r = await env.nova.post(url, json={"metadata": {"k": "v"}}, headers=as_token("alt-token"))
    assert r.status_code in (403, 404)

    r = await env.nova.delete(f"/v2.1/images/{image_id}")
    validate(schema.delete, r)
    assert (await env.nova.get(f"/v2.1/images/{image_id}")).status_code == 404
    assert (await env.nova.delete(f"/v2.1/images/{image_id}")).status_code == 404
    assert (await env.nova.delete("/v2.1/images/")).status_code == 404


async def test_extensions(env):
    r = await env.nova.get("/v2.1/extensions")
    validate(ext_schema.list_extensions, r)
    names = {e["name"] for e in r.json()["extensions"]}
    assert {"Hosts", "InstanceActions", "ServerPassword"} <= names
    r = await env.nova.get("/v2.1/extensions/os-consoles")
    assert r.status_code == 200 and r.json()["extension"]["alias"] == "os-consoles"
    assert (await env.nova.get("/v2.1/extensions/os-nothing")).status_code == 404
