"""Image members: sharing rules, member status, shared lists, schemas and quotas."""
from __future__ import annotations

import pytest

from kumo.image.api import component
from tests.api.test_image_support import as_token, create, upload
from tests.fakes import PROJECTS

ALT = PROJECTS["alt"]
ALT_H = as_token("alt-token")


@pytest.fixture
async def client(mount):
    return await mount(component)


async def add(client, image_id: str, member: str = ALT, token: str = "demo-token"):
    return await client.post(f"/v2/images/{image_id}/members", json={"member": member},
                             headers=as_token(token))


async def listed_ids(client, token: str, query: str = "") -> list[str]:
    r = await client.get(f"/v2/images{query}", headers=as_token(token))
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["images"]]


async def test_share_accept_reject_and_remove(client):
    img = await create(client, name="shared-one")
    assert (await client.get(f"/v2/images/{img['id']}", headers=ALT_H)).status_code == 404
    r = await add(client, img["id"])
    assert r.status_code == 200, r.text
    member = r.json()
    assert member["member_id"] == ALT and member["image_id"] == img["id"]
    assert member["status"] == "pending" and member["schema"] == "/v2/schemas/member"
    assert member["created_at"].endswith("Z")
    # a pending member sees the image by id, but not in its default list
    assert (await client.get(f"/v2/images/{img['id']}", headers=ALT_H)).status_code == 200
    assert img["id"] not in await listed_ids(client, "alt-token")
    assert img["id"] in await listed_ids(client, "alt-token", "?member_status=pending")
    assert img["id"] in await listed_ids(client, "alt-token", "?visibility=shared&member_status=pending")
    r = await client.put(f"/v2/images/{img['id']}/members/{ALT}", json={"status": "accepted"}, headers=ALT_H)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert img["id"] in await listed_ids(client, "alt-token")
    r = await client.get(f"/v2/images/{img['id']}/members", headers=ALT_H)
    assert r.status_code == 200
    assert [m["status"] for m in r.json()["members"]] == ["accepted"]
    assert r.json()["schema"] == "/v2/schemas/members"
    r = await client.put(f"/v2/images/{img['id']}/members/{ALT}", json={"status": "rejected"}, headers=ALT_H)
    assert r.status_code == 200
    assert img["id"] not in await listed_ids(client, "alt-token")
    assert img["id"] in await listed_ids(client, "alt-token", "?member_status=all")
    # the member cannot remove itself; the owner can
    assert (await client.delete(f"/v2/images/{img['id']}/members/{ALT}", headers=ALT_H)).status_code == 403
    assert (await client.delete(f"/v2/images/{img['id']}/members/{ALT}")).status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}", headers=ALT_H)).status_code == 404
    assert (await client.get(f"/v2/images/{img['id']}/members")).json()["members"] == []


async def test_member_rules(client):
    img = await create(client, name="rules")
    assert (await add(client, img["id"])).status_code == 200
    assert (await add(client, img["id"])).status_code == 409
    # only the member changes its status; bad status is 400
    r = await client.put(f"/v2/images/{img['id']}/members/{ALT}", json={"status": "accepted"})
    assert r.status_code == 403
    r = await client.put(f"/v2/images/{img['id']}/members/{ALT}", json={"status": "bogus"}, headers=ALT_H)
    assert r.status_code == 400
    # a member cannot add members; an unrelated project sees nothing
    assert (await add(client, img["id"], PROJECTS["service"], token="alt-token")).status_code == 403
    r = await client.get(f"/v2/images/{img['id']}/members/{ALT}", headers=as_token("service-token"))
    assert r.status_code == 200  # admin
    assert (await client.get(f"/v2/images/{img['id']}/members/nobody")).status_code == 404
    # bad bodies
    for body in ({}, {"member": ""}, {"member": 5}, {"member": "x", "extra": 1}, []):
        r = await client.post(f"/v2/images/{img['id']}/members", json=body)
        assert r.status_code == 400, body


async def test_only_shared_images_have_members(client):
    private = await create(client, name="p", visibility="private")
    assert (await add(client, private["id"])).status_code == 403
    assert (await client.get(f"/v2/images/{private['id']}/members")).status_code == 403
    public = await create(client, "admin-token", name="pub", visibility="public")
    assert (await add(client, public["id"], token="admin-token")).status_code == 403
    # after a share, turning the image private hides it from the member
    img = await create(client, name="s")
    await add(client, img["id"])
    r = await client.patch(f"/v2/images/{img['id']}", json=[{"op": "replace", "path": "/visibility",
                                                          "value": "private"}],
                           headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert r.status_code == 200
    assert (await client.get(f"/v2/images/{img['id']}", headers=ALT_H)).status_code == 404


async def test_member_can_download_shared_data(client):
    img = await create(client, name="data")
    assert (await upload(client, img["id"], b"shared bytes")).status_code == 204
    await add(client, img["id"])
    r = await client.get(f"/v2/images/{img['id']}/file", headers=ALT_H)
    assert r.status_code == 200 and r.content == b"shared bytes"
    # but may not change or delete it
    assert (await client.delete(f"/v2/images/{img['id']}", headers=ALT_H)).status_code == 403


async def test_member_quota(mount, settings):
    settings.image.image_member_quota = 1
    client = await mount(component)
    img = await create(client, name="q")
    assert (await add(client, img["id"])).status_code == 200
    r = await add(client, img["id"], PROJECTS["service"])
    assert r.status_code == 413
    assert len((await client.get(f"/v2/images/{img['id']}/members")).json()["members"]) == 1


async def test_member_schemas(client):
    for name in ("member", "members"):
        r = await client.get(f"/v2/schemas/{name}")
        assert r.status_code == 200 and r.json()["name"] == name
    assert r.json()["properties"]["members"]["items"]["properties"]["status"]["enum"] == [
        "pending", "accepted", "rejected"]


async def test_deleting_image_removes_members(client):
    img = await create(client, name="gone")
    await add(client, img["id"])
    assert (await client.delete(f"/v2/images/{img['id']}")).status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}/members")).status_code == 404
