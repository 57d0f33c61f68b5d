"""Image records: create, show, delete, tags, actions, discovery and schemas."""
from __future__ import annotations

import re
import uuid

import pytest

from kumo.image.api import component
from tests.api.test_image_support import as_token, create, image_client, upload
from tests.fakes import PROJECTS

BASE_FIELDS = {"id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
               "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "min_ram",
               "min_disk", "disk_format", "container_format", "created_at", "updated_at",
               "tags", "self", "file", "schema", "locations"}  # [image] show_multiple_locations
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
async def client(mount):
    return await image_client(mount)


async def test_version_discovery_without_token(mount):
    client = await mount(component, token=None)
    r = await client.get("/")
    assert r.status_code == 300
    versions = r.json()["versions"]
    ids = [v["id"] for v in versions]
    assert "v2.0" in ids and "v2.17" in ids
    current = [v for v in versions if v["status"] == "CURRENT"]
    assert [v["id"] for v in current] == ["v2.17"]
    assert current[0]["links"] == [{"rel": "self", "href": "http://127.0.0.1:9292/v2/"}]
    r = await client.get("/versions")
    assert r.status_code == 200 and r.json()["versions"] == versions
    r = await client.get("/v2/images")
    assert r.status_code == 401
    assert r.text.startswith("401 Unauthorized")


async def test_create_defaults_and_fields(client):
    r = await client.post("/v2/images", json={"name": "cirros", "disk_format": "qcow2",
                                              "container_format": "bare", "hw_disk_bus": "virtio",
                                              "tags": ["a", "b", "a"], "min_ram": 64})
    assert r.status_code == 201, r.text
    img = r.json()
    assert set(img) == BASE_FIELDS | {"hw_disk_bus"}
    assert img["status"] == "queued"
    assert img["visibility"] == "shared"
    assert img["owner"] == PROJECTS["demo"]
    assert img["protected"] is False and img["os_hidden"] is False
    assert img["size"] is None and img["checksum"] is None and img["virtual_size"] is None
    assert img["min_ram"] == 64 and img["min_disk"] == 0
    assert img["tags"] == ["a", "b"]
    assert img["hw_disk_bus"] == "virtio"
    assert img["self"] == f"/v2/images/{img['id']}"
    assert img["file"] == f"/v2/images/{img['id']}/file"
    assert img["schema"] == "/v2/schemas/image"
    assert STAMP.match(img["created_at"]) and STAMP.match(img["updated_at"])
    assert r.headers["location"].endswith(f"/v2/images/{img['id']}")
    assert uuid.UUID(img["id"])
    shown = (await client.get(f"/v2/images/{img['id']}")).json()
    assert shown == img


async def test_create_with_id_and_duplicate(client):
    wanted = str(uuid.uuid4())
    img = await create(client, id=wanted, name="x")
    assert img["id"] == wanted
    r = await client.post("/v2/images", json={"id": wanted, "name": "y"})
    assert r.status_code == 409
    r = await client.post("/v2/images", json={"id": "not-a-uuid"})
    assert r.status_code == 400


@pytest.mark.parametrize("body", [
    {"disk_format": "floppy"},
    {"container_format": "zip"},
    {"visibility": "everyone"},
    {"min_disk": -1},
    {"min_ram": "512"},
    {"protected": "yes"},
    {"tags": "notalist"},
    {"name": "n" * 256},
    {"hw_disk_bus": 5},
])
async def test_create_bad_values_400(client, body):
    r = await client.post("/v2/images", json=body)
    assert r.status_code == 400, r.text
    assert "<h1>400 Bad Request</h1>" in r.text
    assert (await client.get("/v2/images")).json()["images"] == []


@pytest.mark.parametrize("key", ["status", "size", "checksum", "os_hash_value", "virtual_size",
                                 "created_at", "self", "location", "deleted"])
async def test_create_reserved_attributes_403(client, key):
    r = await client.post("/v2/images", json={"name": "x", key: "active"})
    assert r.status_code == 403, r.text
    assert key in r.text
    assert (await client.get("/v2/images")).json()["images"] == []


async def test_malformed_body_400(client):
    r = await client.post("/v2/images", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = await client.post("/v2/images", json=["a"])
    assert r.status_code == 400


async def test_owner_and_public_need_admin(client):
    r = await client.post("/v2/images", json={"name": "p", "visibility": "public"})
    assert r.status_code == 403
    r = await client.post("/v2/images", json={"name": "o", "owner": PROJECTS["alt"]})
    assert r.status_code == 403
    img = await create(client, name="mine", owner=PROJECTS["demo"])
    assert img["owner"] == PROJECTS["demo"]
    img = await create(client, "admin-token", name="pub", visibility="public", owner=PROJECTS["alt"])
    assert img["visibility"] == "public" and img["owner"] == PROJECTS["alt"]


async def test_reader_cannot_write(client):
    r = await client.post("/v2/images", json={"name": "r"}, headers=as_token("reader-token"))
    assert r.status_code == 403
    img = await create(client, name="demo-img")
    # the reader is in the demo project: it sees the image but may not change it
    assert (await client.get(f"/v2/images/{img['id']}", headers=as_token("reader-token"))).status_code == 200
    r = await client.delete(f"/v2/images/{img['id']}", headers=as_token("reader-token"))
    assert r.status_code == 403
    r = await upload(client, img["id"], b"data", token="reader-token")
    assert r.status_code == 403
    r = await client.put(f"/v2/images/{img['id']}/tags/t", headers=as_token("reader-token"))
    assert r.status_code == 403
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "queued"


async def test_other_project_gets_404(client):
    img = await create(client, name="private", visibility="private")
    for method in ("GET", "DELETE"):
        r = await client.request(method, f"/v2/images/{img['id']}", headers=as_token("alt-token"))
        assert r.status_code == 404, method
        assert "<h1>404 Not Found</h1>" in r.text
    r = await upload(client, img["id"], b"x", token="alt-token")
    assert r.status_code == 404
    assert (await client.get(f"/v2/images/{img['id']}", headers=as_token("admin-token"))).status_code == 200


async def test_public_image_visible_but_not_writable_by_others(client):
    img = await create(client, "admin-token", name="pub", visibility="public")
    r = await client.get(f"/v2/images/{img['id']}", headers=as_token("alt-token"))
    assert r.status_code == 200
    r = await client.delete(f"/v2/images/{img['id']}", headers=as_token("alt-token"))
    assert r.status_code == 403
    assert (await client.get(f"/v2/images/{img['id']}")).status_code == 200


async def test_delete_and_protected(client):
    img = await create(client, name="keep", protected=True)
    r = await client.delete(f"/v2/images/{img['id']}")
    assert r.status_code == 403
    assert "protected" in r.text
    assert (await client.get(f"/v2/images/{img['id']}")).status_code == 200
    other = await create(client, name="gone")
    assert (await client.delete(f"/v2/images/{other['id']}")).status_code == 204
    assert (await client.get(f"/v2/images/{other['id']}")).status_code == 404
    assert (await client.delete(f"/v2/images/{other['id']}")).status_code == 404


async def test_unknown_image_404(client):
    assert (await client.get(f"/v2/images/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/v2/images/not-a-uuid")).status_code == 404


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", "POST"])
async def test_empty_image_id_404(client, method):
    """``/v2/images/`` is an image with an empty id (tempest's null-id tests), not the list."""
    img = await create(client, name="survivor")
    r = await client.request(method, "/v2/images/")
    assert r.status_code == 404, r.text
    assert (await client.get(f"/v2/images/{img['id']}")).status_code == 200
    assert (await client.get("/v2/images/", headers={"X-Auth-Token": ""})).status_code == 401


async def test_tags_add_remove(client):
    img = await create(client, name="t")
    r = await client.put(f"/v2/images/{img['id']}/tags/blue")
    assert r.status_code == 204
    assert (await client.put(f"/v2/images/{img['id']}/tags/blue")).status_code == 204
    assert (await client.put(f"/v2/images/{img['id']}/tags/red")).status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}")).json()["tags"] == ["blue", "red"]
    assert (await client.delete(f"/v2/images/{img['id']}/tags/blue")).status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}")).json()["tags"] == ["red"]
    assert (await client.delete(f"/v2/images/{img['id']}/tags/blue")).status_code == 404
    r = await client.put(f"/v2/images/{img['id']}/tags/{'x' * 256}")
    assert r.status_code == 400


async def test_tag_quota_413(client):
    img = await create(client, name="many", tags=[f"t{i}" for i in range(128)])
    r = await client.put(f"/v2/images/{img['id']}/tags/one-more")
    assert r.status_code == 413
    r = await client.post("/v2/images", json={"tags": [f"t{i}" for i in range(129)]})
    assert r.status_code == 413


async def test_deactivate_reactivate(client):
    img = await create(client, name="d")
    admin = as_token("admin-token")
    # only active images can be deactivated
    r = await client.post(f"/v2/images/{img['id']}/actions/deactivate", headers=admin)
    assert r.status_code == 403
    assert (await upload(client, img["id"], b"payload")).status_code == 204
    r = await client.post(f"/v2/images/{img['id']}/actions/deactivate", headers=as_token("reader-token"))
    assert r.status_code == 403  # a reader of the owning project
    r = await client.post(f"/v2/images/{img['id']}/actions/deactivate", headers=as_token("alt-token"))
    assert r.status_code == 404  # another project does not see the image
    r = await client.post(f"/v2/images/{img['id']}/actions/deactivate", headers=admin)
    assert r.status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "deactivated"
    assert (await client.get(f"/v2/images/{img['id']}/file")).status_code == 403
    r = await client.get(f"/v2/images/{img['id']}/file", headers=admin)
    assert r.status_code == 200 and r.content == b"payload"
    r = await client.post(f"/v2/images/{img['id']}/actions/reactivate", headers=admin)
    assert r.status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "active"
    assert (await client.get(f"/v2/images/{img['id']}/file")).content == b"payload"
    # the owner's members deactivate and reactivate their own images (glance's default policy)
    r = await client.post(f"/v2/images/{img['id']}/actions/deactivate")
    assert r.status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "deactivated"
    r = await client.post(f"/v2/images/{img['id']}/actions/reactivate")
    assert r.status_code == 204
    assert (await client.get(f"/v2/images/{img['id']}")).json()["status"] == "active"


async def test_schemas(client):
    r = await client.get("/v2/schemas/image")
    assert r.status_code == 200
    schema = r.json()
    assert schema["name"] == "image"
    assert "qcow2" in schema["properties"]["disk_format"]["enum"]
    assert schema["properties"]["status"]["readOnly"] is True
    assert schema["additionalProperties"] == {"type": "string"}
    r = await client.get("/v2/schemas/images")
    assert r.status_code == 200
    assert r.json()["properties"]["images"]["items"]["name"] == "image"
    r = await client.get("/v2/info/import")
    assert r.status_code == 200 and r.json()["import-methods"]["type"] == "array"


async def test_unknown_route_and_method(client):
    r = await client.get("/v2/nothing")
    assert r.status_code == 404 and "<h1>404 Not Found</h1>" in r.text
    r = await client.put("/v2/images")
    assert r.status_code == 405


async def test_error_bodies_follow_accept(client):
    """Like glance's webob pages: HTML by default, JSON for JSON clients, else plain text."""
    img = await create(client, name="keep", protected=True)
    message = f"Image {img['id']} is protected and cannot be deleted."
    url = f"/v2/images/{img['id']}"
    r = await client.delete(url, headers={"Accept": "application/json"})
    assert r.status_code == 403
    assert r.json() == {"message": message, "code": "403 Forbidden", "title": "Forbidden"}
    for accept in ("*/*", "text/html", "application/json;q=0.5, text/html"):
        r = await client.delete(url, headers={"Accept": accept})
        assert r.headers["content-type"].startswith("text/html"), accept
        assert "<title>403 Forbidden</title>" in r.text and f"{message}<br />" in r.text
    r = await client.delete(url, headers={"Accept": "text/plain"})
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith(f"403 Forbidden\n\n{message}")
    r = await client.get("/v2/nothing", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json()["code"] == "404 Not Found"
