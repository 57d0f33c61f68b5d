"""Updating images with JSON patch (application/openstack-images-v2.1-json-patch and the v2.0 form)."""
from __future__ import annotations

import pytest

from tests.api.test_image_support import as_token, create, image_client, patch, upload
from tests.fakes import PROJECTS

V20_TYPE = "application/openstack-images-v2.0-json-patch"


@pytest.fixture
async def client(mount):
    return await image_client(mount)


async def test_replace_add_remove(client):
    img = await create(client, name="old", os_distro="debian")
    r = await patch(client, img["id"], [
        {"op": "replace", "path": "/name", "value": "new"},
        {"op": "replace", "path": "/min_disk", "value": 2},
        {"op": "add", "path": "/min_ram", "value": 256},
        {"op": "replace", "path": "/protected", "value": True},
        {"op": "replace", "path": "/visibility", "value": "private"},
        {"op": "replace", "path": "/tags", "value": ["t1", "t2"]},
        {"op": "add", "path": "/hw_disk_bus", "value": "virtio"},
        {"op": "replace", "path": "/os_distro", "value": "ubuntu"},
    ])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["min_disk"], body["min_ram"]) == ("new", 2, 256)
    assert body["protected"] is True and body["visibility"] == "private"
    assert body["tags"] == ["t1", "t2"]
    assert body["hw_disk_bus"] == "virtio" and body["os_distro"] == "ubuntu"
    assert (await client.get(f"/v2/images/{img['id']}")).json() == body
    r = await patch(client, img["id"], [{"op": "remove", "path": "/os_distro"},
                                        {"op": "add", "path": "/hw~1x", "value": "slash"}])
    assert r.status_code == 200
    assert "os_distro" not in r.json()
    assert r.json()["hw/x"] == "slash"


async def test_failed_patch_changes_nothing(client):
    img = await create(client, name="keep", os_distro="debian")
    r = await patch(client, img["id"], [
        {"op": "replace", "path": "/name", "value": "changed"},
        {"op": "replace", "path": "/missing_prop", "value": "x"},
    ])
    assert r.status_code == 409
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown["name"] == "keep" and "missing_prop" not in shown
    assert (await patch(client, img["id"], [{"op": "remove", "path": "/missing_prop"}])).status_code == 409


@pytest.mark.parametrize("ops,status", [
    ([{"op": "replace", "path": "/status", "value": "active"}], 403),
    ([{"op": "replace", "path": "/size", "value": 5}], 403),
    ([{"op": "replace", "path": "/id", "value": "x"}], 403),
    ([{"op": "add", "path": "/deleted", "value": "x"}], 403),
    ([{"op": "remove", "path": "/name"}], 403),
    ([{"op": "replace", "path": "/visibility", "value": "public"}], 403),
    ([{"op": "replace", "path": "/owner", "value": PROJECTS["alt"]}], 403),
    ([{"op": "replace", "path": "/disk_format", "value": "vhdz"}], 400),
    ([{"op": "replace", "path": "/min_ram", "value": -5}], 400),
    ([{"op": "replace", "path": "/protected", "value": "true"}], 400),
    ([{"op": "add", "path": "/prop", "value": 7}], 400),
    ([{"op": "move", "path": "/name", "value": "x"}], 400),
    ([{"op": "replace", "path": "name", "value": "x"}], 400),
    ([{"op": "replace", "path": "/a/b", "value": "x"}], 400),
    ([{"op": "replace", "path": "/name"}], 400),
    ({"op": "replace"}, 400),
    ([{"op": "add", "path": "/tags", "value": ["x" * 256]}], 400),
])
async def test_bad_patches(client, ops, status):
    img = await create(client, name="target")
    r = await patch(client, img["id"], ops)
    assert r.status_code == status, r.text
    assert (await client.get(f"/v2/images/{img['id']}")).json() == img


async def test_wrong_content_type_415(client):
    img = await create(client, name="x")
    r = await client.patch(f"/v2/images/{img['id']}", json=[{"op": "replace", "path": "/name", "value": "y"}])
    assert r.status_code == 415
    assert "openstack-images-v2.1-json-patch" in r.headers["accept-patch"]


async def test_unknown_patch_media_type_415(client):
    img = await create(client, name="x")
    for media_type in ("application/json-patch+json", "application/openstack-images-v2.2-json-patch",
                       "application/json"):
        r = await client.patch(f"/v2/images/{img['id']}", content=b'[]',
                               headers={"Content-Type": media_type})
        assert r.status_code == 415, media_type
        assert "openstack-images-v2.0-json-patch" in r.headers["accept-patch"]
    assert (await client.get(f"/v2/images/{img['id']}")).json() == img


async def v20_patch(client, image_id: str, ops, token: str = "demo-token"):
    return await client.patch(f"/v2/images/{image_id}", json=ops,
                              headers={"Content-Type": V20_TYPE + "; charset=UTF-8", **as_token(token)})


async def test_v20_replace_add_remove(client):
    """The draft-04 form tempest's image client sends: the op name holds the path."""
    img = await create(client, name="old", os_distro="debian")
    r = await v20_patch(client, img["id"], [
        {"replace": "/name", "value": "new"},
        {"add": "/hw_disk_bus", "value": "virtio"},
        {"replace": "/os_distro", "value": "ubuntu"},
        {"add": "/os_hidden", "value": True},
        {"replace": "/protected", "value": True},
        {"add": "/hw~1x", "value": "slash"},
    ])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "new" and body["hw_disk_bus"] == "virtio" and body["os_distro"] == "ubuntu"
    assert body["os_hidden"] is True and body["protected"] is True and body["hw/x"] == "slash"
    r = await v20_patch(client, img["id"], [{"remove": "/os_distro"},
                                            {"replace": "/protected", "value": False}])
    assert r.status_code == 200, r.text
    assert "os_distro" not in r.json() and r.json()["protected"] is False
    assert (await client.delete(f"/v2/images/{img['id']}")).status_code == 204


async def test_v20_admin_changes_owner(client):
    img = await create(client, name="o")
    r = await v20_patch(client, img["id"], [{"replace": "/owner", "value": PROJECTS["alt"]}],
                        token="admin-token")
    assert r.status_code == 200 and r.json()["owner"] == PROJECTS["alt"]


@pytest.mark.parametrize("ops,status", [
    ([{"op": "replace", "path": "/name", "value": "x"}], 400),   # v2.1 body under the v2.0 type
    ([{"value": "x"}], 400),
    ([{"replace": "/name", "add": "/name", "value": "x"}], 400),
    ([{"move": "/name", "value": "x"}], 400),
    ([{"replace": "name", "value": "x"}], 400),
    ([{"replace": "/a/b", "value": "x"}], 400),
    ([{"replace": "/name"}], 400),
    ([{"add": "/prop"}], 400),
    ([{"replace": 7, "value": "x"}], 400),
    ({"replace": "/name", "value": "x"}, 400),
    ([{"replace": "/missing_prop", "value": "x"}], 409),
    ([{"remove": "/missing_prop"}], 409),
    ([{"remove": "/name"}], 403),
    ([{"replace": "/status", "value": "active"}], 403),
    ([{"replace": "/id", "value": "x"}], 403),
    ([{"replace": "/visibility", "value": "public"}], 403),
    ([{"replace": "/min_ram", "value": -5}], 400),
])
async def test_v20_bad_patches(client, ops, status):
    img = await create(client, name="target")
    r = await v20_patch(client, img["id"], ops)
    assert r.status_code == status, r.text
    assert (await client.get(f"/v2/images/{img['id']}")).json() == img


async def test_v21_form_under_v21_type_only(client):
    """Each media type reads its own form: a v2.0 body under the v2.1 type is 400."""
    img = await create(client, name="t")
    r = await patch(client, img["id"], [{"replace": "/name", "value": "x"}])
    assert r.status_code == 400
    r = await patch(client, img["id"], [{"op": "replace", "path": "/name", "value": "x"}])
    assert r.status_code == 200 and r.json()["name"] == "x"


async def test_formats_only_while_queued(client):
    img = await create(client, name="f")
    r = await patch(client, img["id"], [{"op": "replace", "path": "/disk_format", "value": "iso"}])
    assert r.status_code == 200 and r.json()["disk_format"] == "iso"
    await upload(client, img["id"], b"data")
    r = await patch(client, img["id"], [{"op": "replace", "path": "/disk_format", "value": "raw"}])
    assert r.status_code == 403
    r = await patch(client, img["id"], [{"op": "replace", "path": "/container_format", "value": "ovf"}])
    assert r.status_code == 403
    r = await patch(client, img["id"], [{"op": "replace", "path": "/name", "value": "renamed"}])
    assert r.status_code == 200 and r.json()["disk_format"] == "iso"


async def test_admin_may_publicize_and_change_owner(client):
    img = await create(client, name="p")
    r = await patch(client, img["id"], [{"op": "replace", "path": "/visibility", "value": "public"},
                                        {"op": "replace", "path": "/owner", "value": PROJECTS["alt"]}],
                    token="admin-token")
    assert r.status_code == 200
    assert r.json()["visibility"] == "public" and r.json()["owner"] == PROJECTS["alt"]
    # demo no longer owns it: it still sees it (public) but may not change it
    r = await patch(client, img["id"], [{"op": "replace", "path": "/name", "value": "mine"}])
    assert r.status_code == 403


async def test_other_project_and_reader(client):
    img = await create(client, name="private", visibility="private")
    ops = [{"op": "replace", "path": "/name", "value": "stolen"}]
    assert (await patch(client, img["id"], ops, token="alt-token")).status_code == 404
    assert (await patch(client, img["id"], ops, token="reader-token")).status_code == 403
    assert (await client.get(f"/v2/images/{img['id']}")).json()["name"] == "private"


async def test_community_by_member(client):
    img = await create(client, name="c")
    r = await patch(client, img["id"], [{"op": "replace", "path": "/visibility", "value": "community"}])
    assert r.status_code == 200 and r.json()["visibility"] == "community"


async def test_property_quota_413(client):
    img = await create(client, name="q", **{f"p{i}": "v" for i in range(128)})
    r = await patch(client, img["id"], [{"op": "add", "path": "/p128", "value": "v"}])
    assert r.status_code == 413
