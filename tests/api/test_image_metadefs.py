"""Metadata definitions: namespaces (create, list, show, update, delete), visibility and policy."""
from __future__ import annotations

import re

import pytest

from tests.api.test_image_support import as_token, image_client
from tests.fakes import PROJECTS

NS = "/v2/metadefs/namespaces"
ADMIN = as_token("admin-token")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
async def client(mount):
    return await image_client(mount)


async def make_ns(client, name: str, **body) -> dict:
    r = await client.post(NS, json={"namespace": name, **body}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_defaults_location_and_show(client):
    r = await client.post(NS, json={"namespace": "Kumo::Test"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith(f"{NS}/Kumo::Test")
    ns = r.json()
    assert ns["namespace"] == "Kumo::Test"
    assert ns["visibility"] == "private" and ns["protected"] is False
    assert ns["owner"] == PROJECTS["admin"]
    assert ns["self"] == f"{NS}/Kumo::Test" and ns["schema"] == "/v2/schemas/metadefs/namespace"
    assert STAMP.match(ns["created_at"]) and STAMP.match(ns["updated_at"])
    assert "display_name" not in ns and "description" not in ns
    shown = (await client.get(f"{NS}/Kumo::Test", headers=ADMIN)).json()
    assert shown == ns


async def test_create_with_contents_and_prefixed_show(client):
    await make_ns(client, "Kumo::Full", visibility="public", display_name="Full", description="d",
                  properties={"cpu_count": {"title": "CPUs", "type": "integer", "minimum": 1}},
                  objects=[{"name": "Disk", "properties": {"bus": {"title": "Bus", "type": "string",
                                                                   "enum": ["virtio", "ide"]}},
                            "required": ["bus"]}],
                  tags=[{"name": "fast"}, {"name": "small"}],
                  resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"}])
    r = await client.get(f"{NS}/Kumo::Full")   # a public namespace: any project reads it
    assert r.status_code == 200
    ns = r.json()
    assert ns["display_name"] == "Full" and ns["description"] == "d"
    assert ns["properties"] == {"cpu_count": {"title": "CPUs", "type": "integer", "minimum": 1}}
    assert [o["name"] for o in ns["objects"]] == ["Disk"]
    assert ns["objects"][0]["required"] == ["bus"]
    assert sorted(t["name"] for t in ns["tags"]) == ["fast", "small"]
    [assoc] = ns["resource_type_associations"]
    assert assoc["name"] == "OS::Glance::Image" and assoc["prefix"] == "hw_"
    r = await client.get(f"{NS}/Kumo::Full", params={"resource_type": "OS::Glance::Image"})
    prefixed = r.json()
    assert list(prefixed["properties"]) == ["hw_cpu_count"]
    assert list(prefixed["objects"][0]["properties"]) == ["hw_bus"]
    r = await client.get(f"{NS}/Kumo::Full", params={"resource_type": "OS::Nova::Flavor"})
    assert list(r.json()["properties"]) == ["cpu_count"]     # not associated: ignored


async def test_create_is_atomic(client):
    r = await client.post(NS, json={"namespace": "Kumo::Half", "objects": [{"name": "a"}, {"name": "a"}]},
                          headers=ADMIN)
    assert r.status_code == 409
    assert (await client.get(f"{NS}/Kumo::Half", headers=ADMIN)).status_code == 404
    r = await client.post(NS, json={"namespace": "Kumo::Half", "tags": [{"name": "x"}, {"name": "x"}]},
                          headers=ADMIN)
    assert r.status_code == 409
    assert (await client.get(f"{NS}/Kumo::Half", headers=ADMIN)).status_code == 404


async def test_duplicate_and_rename_conflicts(client):
    await make_ns(client, "Kumo::One")
    await make_ns(client, "Kumo::Two")
    r = await client.post(NS, json={"namespace": "Kumo::One"}, headers=ADMIN)
    assert r.status_code == 409
    r = await client.put(f"{NS}/Kumo::Two", json={"namespace": "Kumo::One"}, headers=ADMIN)
    assert r.status_code == 409


@pytest.mark.parametrize("body, status", [
    ({}, 400),
    ({"namespace": ""}, 400),
    ({"namespace": "x" * 81}, 400),
    ({"namespace": 5}, 400),
    ({"namespace": "n", "visibility": "shared"}, 400),
    ({"namespace": "n", "protected": "yes"}, 400),
    ({"namespace": "n", "description": "d" * 501}, 400),
    ({"namespace": "n", "colour": "red"}, 400),
    ({"namespace": "n", "properties": {"p": {"title": "t"}}}, 400),
    ({"namespace": "n", "properties": {"p": {"title": "t", "type": "float"}}}, 400),
    ({"namespace": "n", "created_at": "2020-01-01T00:00:00Z"}, 403),
    ({"namespace": "n", "self": "/x"}, 403),
    (["namespace"], 400),
])
async def test_create_bad_bodies(client, body, status):
    r = await client.post(NS, json=body, headers=ADMIN)
    assert r.status_code == status, r.text
    assert (await client.get(NS, headers=ADMIN)).json()["namespaces"] == []


async def test_malformed_json_is_400(client):
    r = await client.post(NS, content=b"{nope", headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code == 400


async def test_only_admin_writes(client):
    r = await client.post(NS, json={"namespace": "Kumo::Mine"})
    assert r.status_code == 403
    await make_ns(client, "Kumo::Pub", visibility="public")
    r = await client.put(f"{NS}/Kumo::Pub", json={"namespace": "Kumo::Pub"})
    assert r.status_code == 403
    r = await client.delete(f"{NS}/Kumo::Pub")
    assert r.status_code == 403
    assert (await client.get(f"{NS}/Kumo::Pub")).status_code == 200


async def test_private_namespace_visibility(client):
    await make_ns(client, "Kumo::Secret")
    await make_ns(client, "Kumo::Demo", owner=PROJECTS["demo"])
    assert (await client.get(f"{NS}/Kumo::Secret")).status_code == 404
    assert (await client.get(f"{NS}/Kumo::Secret/objects")).status_code == 404
    assert (await client.get(f"{NS}/Kumo::Demo")).status_code == 200
    assert (await client.get(f"{NS}/Kumo::Demo", headers=as_token("alt-token"))).status_code == 404
    names = [n["namespace"] for n in (await client.get(NS)).json()["namespaces"]]
    assert names == ["Kumo::Demo"]
    admin_names = {n["namespace"] for n in (await client.get(NS, headers=ADMIN)).json()["namespaces"]}
    assert admin_names == {"Kumo::Secret", "Kumo::Demo"}
    # Writing to an invisible namespace is 404 (it does not exist for the caller), not 403.
    r = await client.delete(f"{NS}/Kumo::Secret", headers=as_token("alt-token"))
    assert r.status_code == 404


async def test_update_replaces_attributes(client):
    await make_ns(client, "Kumo::Up", visibility="public", protected=True, display_name="Up", description="d")
    r = await client.put(f"{NS}/Kumo::Up", json={"namespace": "Kumo::Renamed", "description": "new"},
                         headers=ADMIN)
    assert r.status_code == 200, r.text
    ns = r.json()
    assert ns["namespace"] == "Kumo::Renamed" and ns["description"] == "new"
    assert ns["visibility"] == "private" and ns["protected"] is False and "display_name" not in ns
    assert ns["owner"] == PROJECTS["admin"]
    assert (await client.get(f"{NS}/Kumo::Up", headers=ADMIN)).status_code == 404
    assert (await client.get(f"{NS}/Kumo::Renamed", headers=ADMIN)).json()["description"] == "new"
    r = await client.put(f"{NS}/Kumo::Renamed", json={"description": "no name"}, headers=ADMIN)
    assert r.status_code == 400
    r = await client.put(f"{NS}/Kumo::Nope", json={"namespace": "Kumo::Nope"}, headers=ADMIN)
    assert r.status_code == 404


async def test_protected_namespace_cannot_be_deleted(client):
    await make_ns(client, "Kumo::Locked", protected=True, objects=[{"name": "o"}])
    r = await client.delete(f"{NS}/Kumo::Locked", headers=ADMIN)
    assert r.status_code == 403
    assert (await client.get(f"{NS}/Kumo::Locked", headers=ADMIN)).status_code == 200
    r = await client.put(f"{NS}/Kumo::Locked", json={"namespace": "Kumo::Locked", "protected": False},
                         headers=ADMIN)
    assert r.json()["protected"] is False
    assert (await client.delete(f"{NS}/Kumo::Locked", headers=ADMIN)).status_code == 204
    assert (await client.get(f"{NS}/Kumo::Locked", headers=ADMIN)).status_code == 404
    # Its contents went with it: a namespace of the same name starts empty.
    await make_ns(client, "Kumo::Locked")
    assert (await client.get(f"{NS}/Kumo::Locked/objects", headers=ADMIN)).json()["objects"] == []


async def test_list_paging_sorting_and_links(client):
    for name in ("Kumo::B", "Kumo::A", "Kumo::C"):
        await make_ns(client, name, visibility="public")
    r = await client.get(NS, params={"limit": 2, "sort_key": "namespace", "sort_dir": "asc"})
    body = r.json()
    assert [n["namespace"] for n in body["namespaces"]] == ["Kumo::A", "Kumo::B"]
    assert body["schema"] == "/v2/schemas/metadefs/namespaces"
    assert "marker" not in body["first"] and "limit=2" in body["first"]
    assert "marker=Kumo%3A%3AB" in body["next"]
    r = await client.get(body["next"])
    page2 = r.json()
    assert [n["namespace"] for n in page2["namespaces"]] == ["Kumo::C"]
    assert "next" not in page2
    r = await client.get(NS, params={"sort_key": "namespace", "sort_dir": "desc"})
    assert [n["namespace"] for n in r.json()["namespaces"]] == ["Kumo::C", "Kumo::B", "Kumo::A"]


@pytest.mark.parametrize("params, status", [
    ({"limit": "x"}, 400), ({"limit": "-1"}, 400), ({"sort_key": "owner"}, 400),
    ({"sort_dir": "up"}, 400), ({"visibility": "shared"}, 400), ({"marker": "Kumo::None"}, 404),
])
async def test_list_bad_queries(client, params, status):
    r = await client.get(NS, params=params)
    assert r.status_code == status


async def test_list_filters(client):
    await make_ns(client, "Kumo::Img", visibility="public",
                  resource_type_associations=[{"name": "OS::Glance::Image"}])
    await make_ns(client, "Kumo::Flv", visibility="public",
                  resource_type_associations=[{"name": "OS::Nova::Flavor", "prefix": "hw:"}])
    await make_ns(client, "Kumo::Priv")

    async def names(params, headers=ADMIN):
        r = await client.get(NS, params=params, headers=headers)
        assert r.status_code == 200
        return {n["namespace"] for n in r.json()["namespaces"]}

    assert await names({"resource_types": "OS::Glance::Image"}) == {"Kumo::Img"}
    assert await names({"resource_types": "OS::Glance::Image,OS::Nova::Flavor"}) == {"Kumo::Img", "Kumo::Flv"}
    assert await names({"visibility": "private"}) == {"Kumo::Priv"}
    assert await names({"visibility": "public"}) == {"Kumo::Img", "Kumo::Flv"}
    assert await names({"visibility": "private"}, headers={}) == set()
    listed = (await client.get(NS, params={"resource_types": "OS::Nova::Flavor"})).json()["namespaces"]
    assert listed[0]["resource_type_associations"][0]["prefix"] == "hw:"


async def test_errors_in_glance_format(client):
    r = await client.get(f"{NS}/Kumo::Missing", headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.json()["code"] == "404 Not Found" and "Kumo::Missing" in r.json()["message"]
