"""Metadata definitions inside a namespace: objects, properties, tags, resource type associations;
the resource type list and the metadef schema documents."""
from __future__ import annotations

import pytest

from kumo.image.metadefs import STANDARD
from tests.api.test_image_metadefs import ADMIN, NS, STAMP, make_ns
from tests.api.test_image_support import as_token, image_client


@pytest.fixture
async def client(mount):
    c = await image_client(mount)
    await make_ns(c, "Kumo::NS", visibility="public")
    return c


OBJECTS = f"{NS}/Kumo::NS/objects"
PROPS = f"{NS}/Kumo::NS/properties"
TAGS = f"{NS}/Kumo::NS/tags"
ASSOC = f"{NS}/Kumo::NS/resource_types"


async def unprotect(client, protected: bool) -> None:
    r = await client.put(f"{NS}/Kumo::NS", json={"namespace": "Kumo::NS", "visibility": "public",
                                                 "protected": protected}, headers=ADMIN)
    assert r.status_code == 200


# --- objects --------------------------------------------------------------------------------

async def test_object_lifecycle(client):
    body = {"name": "CPU Limits", "description": "limits", "required": ["quota:cpu_period"],
            "properties": {"quota:cpu_period": {"title": "Period", "type": "integer",
                                                "minimum": 1000, "maximum": 1000000}}}
    r = await client.post(OBJECTS, json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    obj = r.json()
    assert obj["name"] == "CPU Limits" and obj["description"] == "limits"
    assert obj["properties"] == body["properties"] and obj["required"] == ["quota:cpu_period"]
    assert obj["self"] == f"{OBJECTS}/CPU Limits" and obj["schema"] == "/v2/schemas/metadefs/object"
    assert STAMP.match(obj["created_at"])
    assert (await client.get(f"{OBJECTS}/CPU Limits")).json() == obj
    listed = (await client.get(OBJECTS)).json()
    assert [o["name"] for o in listed["objects"]] == ["CPU Limits"]
    assert listed["schema"] == "/v2/schemas/metadefs/objects"
    # An update replaces the whole object and may rename it.
    r = await client.put(f"{OBJECTS}/CPU Limits", json={"name": "Limits"}, headers=ADMIN)
    assert r.status_code == 200
    assert r.json()["properties"] == {} and r.json()["required"] == [] and "description" not in r.json()
    assert (await client.get(f"{OBJECTS}/CPU Limits")).status_code == 404
    assert (await client.delete(f"{OBJECTS}/Limits", headers=ADMIN)).status_code == 204
    assert (await client.get(OBJECTS)).json()["objects"] == []
    assert (await client.delete(f"{OBJECTS}/Limits", headers=ADMIN)).status_code == 404


async def test_object_conflicts_and_bad_bodies(client):
    for name in ("a", "b"):
        assert (await client.post(OBJECTS, json={"name": name}, headers=ADMIN)).status_code == 201
    assert (await client.post(OBJECTS, json={"name": "a"}, headers=ADMIN)).status_code == 409
    assert (await client.put(f"{OBJECTS}/b", json={"name": "a"}, headers=ADMIN)).status_code == 409
    for bad in ({}, {"name": ""}, {"name": "c", "size": 1}, {"name": "c", "required": "x"},
                {"name": "c", "properties": {"p": {"type": "string"}}}, {"name": "c", "required": ["a", "a"]}):
        assert (await client.post(OBJECTS, json=bad, headers=ADMIN)).status_code == 400, bad
    r = await client.post(OBJECTS, json={"name": "c", "updated_at": "x"}, headers=ADMIN)
    assert r.status_code == 403
    assert (await client.post(f"{NS}/Kumo::None/objects", json={"name": "c"}, headers=ADMIN)).status_code == 404
    assert len((await client.get(OBJECTS)).json()["objects"]) == 2


async def test_object_policy_and_protection(client):
    assert (await client.post(OBJECTS, json={"name": "o"})).status_code == 403
    assert (await client.post(OBJECTS, json={"name": "o"}, headers=ADMIN)).status_code == 201
    assert (await client.put(f"{OBJECTS}/o", json={"name": "o"})).status_code == 403
    assert (await client.delete(f"{OBJECTS}/o")).status_code == 403
    assert (await client.get(f"{OBJECTS}/o", headers=as_token("reader-token"))).status_code == 200
    await unprotect(client, True)
    assert (await client.delete(f"{OBJECTS}/o", headers=ADMIN)).status_code == 403
    assert (await client.delete(OBJECTS, headers=ADMIN)).status_code == 403
    assert (await client.post(OBJECTS, json={"name": "p"}, headers=ADMIN)).status_code == 201
    await unprotect(client, False)
    assert (await client.delete(OBJECTS, headers=ADMIN)).status_code == 204
    assert (await client.get(OBJECTS)).json()["objects"] == []


# --- properties -----------------------------------------------------------------------------

async def test_property_lifecycle(client):
    body = {"name": "hw_disk_bus", "title": "Disk bus", "type": "string", "enum": ["virtio", "ide"],
            "description": "bus", "default": "virtio", "readonly": False}
    r = await client.post(PROPS, json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json() == body
    assert (await client.get(f"{PROPS}/hw_disk_bus")).json() == body
    listed = (await client.get(PROPS)).json()
    assert listed == {"properties": {"hw_disk_bus": {k: v for k, v in body.items() if k != "name"}}}
    r = await client.put(f"{PROPS}/hw_disk_bus", json={"name": "disk_bus", "title": "Bus", "type": "string"},
                         headers=ADMIN)
    assert r.status_code == 200
    assert r.json() == {"name": "disk_bus", "title": "Bus", "type": "string"}
    assert (await client.get(f"{PROPS}/hw_disk_bus")).status_code == 404
    assert (await client.delete(f"{PROPS}/disk_bus", headers=ADMIN)).status_code == 204
    assert (await client.get(PROPS)).json() == {"properties": {}}


@pytest.mark.parametrize("body", [
    {"title": "t", "type": "string"},                                   # no name
    {"name": "p", "type": "string"},                                    # no title
    {"name": "p", "title": "t"},                                        # no type
    {"name": "p", "title": "t", "type": "text"},
    {"name": "p", "title": "t", "type": "integer", "minimum": "1"},
    {"name": "p", "title": "t", "type": "string", "maxLength": -1},
    {"name": "p", "title": "t", "type": "string", "pattern": "(["},
    {"name": "p", "title": "t", "type": "string", "readonly": "no"},
    {"name": "p", "title": "t", "type": "string", "color": "red"},
    {"name": "p" * 81, "title": "t", "type": "string"},
])
async def test_bad_property_bodies(client, body):
    r = await client.post(PROPS, json=body, headers=ADMIN)
    assert r.status_code == 400, r.text
    assert (await client.get(PROPS)).json() == {"properties": {}}


async def test_property_types_and_items(client):
    body = {"name": "hw_cpu_policy", "title": "Policies", "type": "array", "minItems": 1, "maxItems": 3,
            "uniqueItems": True, "items": {"type": "string", "enum": ["a", "b"]}, "operators": ["<or>"]}
    r = await client.post(PROPS, json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json() == body
    r = await client.post(PROPS, json={"name": "ratio", "title": "R", "type": "number", "minimum": 0.5},
                          headers=ADMIN)
    assert r.status_code == 201 and r.json()["minimum"] == 0.5


async def test_property_conflict_policy_and_prefix(client):
    prop = {"name": "cpu", "title": "CPU", "type": "integer"}
    assert (await client.post(PROPS, json=prop, headers=ADMIN)).status_code == 201
    assert (await client.post(PROPS, json=prop, headers=ADMIN)).status_code == 409
    assert (await client.post(PROPS, json={**prop, "name": "ram"})).status_code == 403
    r = await client.post(ASSOC, json={"name": "OS::Nova::Flavor", "prefix": "hw:"}, headers=ADMIN)
    assert r.status_code == 201
    r = await client.get(f"{PROPS}/hw:cpu", params={"resource_type": "OS::Nova::Flavor"})
    assert r.status_code == 200 and r.json()["name"] == "hw:cpu" and r.json()["title"] == "CPU"
    r = await client.get(f"{PROPS}/cpu", params={"resource_type": "OS::Nova::Flavor"})
    assert r.status_code == 404
    r = await client.get(f"{PROPS}/cpu", params={"resource_type": "OS::Glance::Image"})
    assert r.status_code == 404
    await unprotect(client, True)
    assert (await client.delete(f"{PROPS}/cpu", headers=ADMIN)).status_code == 403
    assert (await client.delete(PROPS, headers=ADMIN)).status_code == 403
    await unprotect(client, False)
    assert (await client.delete(PROPS, headers=ADMIN)).status_code == 204
    assert (await client.get(PROPS)).json() == {"properties": {}}


# --- tags -----------------------------------------------------------------------------------

async def test_tag_lifecycle(client):
    r = await client.post(f"{TAGS}/fast", headers=ADMIN)
    assert r.status_code == 201, r.text
    tag = r.json()
    assert tag["name"] == "fast" and STAMP.match(tag["created_at"]) and STAMP.match(tag["updated_at"])
    assert (await client.get(f"{TAGS}/fast")).json() == tag
    assert (await client.post(f"{TAGS}/fast", headers=ADMIN)).status_code == 409
    assert (await client.post(f"{TAGS}/slow", headers=ADMIN)).status_code == 201
    r = await client.put(f"{TAGS}/fast", json={"name": "quick"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["name"] == "quick"
    assert (await client.put(f"{TAGS}/quick", json={"name": "slow"}, headers=ADMIN)).status_code == 409
    assert (await client.put(f"{TAGS}/quick", json={}, headers=ADMIN)).status_code == 400
    assert (await client.get(f"{TAGS}/fast")).status_code == 404
    assert (await client.delete(f"{TAGS}/quick", headers=ADMIN)).status_code == 204
    assert [t["name"] for t in (await client.get(TAGS)).json()["tags"]] == ["slow"]
    assert (await client.post(f"{TAGS}/{'x' * 81}", headers=ADMIN)).status_code == 400
    assert (await client.post(f"{TAGS}/mine")).status_code == 403


async def test_bulk_tags_replace_or_append(client):
    r = await client.post(TAGS, json={"tags": [{"name": "a"}, {"name": "b"}]}, headers=ADMIN)
    assert r.status_code == 201
    assert [t["name"] for t in r.json()["tags"]] == ["a", "b"]
    r = await client.post(TAGS, json={"tags": [{"name": "c"}]}, headers=ADMIN)
    assert {t["name"] for t in (await client.get(TAGS)).json()["tags"]} == {"c"}
    r = await client.post(TAGS, json={"tags": [{"name": "d"}]}, headers={**ADMIN, "X-Openstack-Append": "True"})
    assert r.status_code == 201
    assert {t["name"] for t in (await client.get(TAGS)).json()["tags"]} == {"c", "d"}
    # Appending a name already there, or naming one twice, is 409 and changes nothing.
    r = await client.post(TAGS, json={"tags": [{"name": "e"}, {"name": "c"}]},
                          headers={**ADMIN, "X-Openstack-Append": "true"})
    assert r.status_code == 409
    r = await client.post(TAGS, json={"tags": [{"name": "f"}, {"name": "f"}]}, headers=ADMIN)
    assert r.status_code == 409
    assert {t["name"] for t in (await client.get(TAGS)).json()["tags"]} == {"c", "d"}
    for bad in ({}, {"tags": "a"}, {"tags": [{"title": "a"}]}, {"tags": [{"name": ""}]}):
        assert (await client.post(TAGS, json=bad, headers=ADMIN)).status_code == 400, bad
    r = await client.post(TAGS, json={"tags": []}, headers={**ADMIN, "X-Openstack-Append": "maybe"})
    assert r.status_code == 400


async def test_tag_list_paging_and_delete_all(client):
    for name in ("b", "c", "a"):
        assert (await client.post(f"{TAGS}/{name}", headers=ADMIN)).status_code == 201

    async def names(**params):
        r = await client.get(TAGS, params=params)
        assert r.status_code == 200, r.text
        return [t["name"] for t in r.json()["tags"]]

    assert await names(sort_key="name", sort_dir="asc") == ["a", "b", "c"]
    assert await names(sort_key="name", sort_dir="asc", limit=2) == ["a", "b"]
    assert await names(sort_key="name", sort_dir="asc", marker="b") == ["c"]
    assert await names(sort_key="name") == ["c", "b", "a"]
    assert (await client.get(TAGS, params={"sort_key": "size"})).status_code == 400
    assert (await client.get(TAGS, params={"marker": "zzz"})).status_code == 404
    await unprotect(client, True)
    assert (await client.delete(TAGS, headers=ADMIN)).status_code == 403
    assert (await client.delete(f"{TAGS}/a", headers=ADMIN)).status_code == 403
    await unprotect(client, False)
    assert (await client.delete(TAGS)).status_code == 403
    assert (await client.delete(TAGS, headers=ADMIN)).status_code == 204
    assert await names() == []


# --- resource types -------------------------------------------------------------------------

async def test_standard_resource_types_are_listed(client):
    r = await client.get("/v2/metadefs/resource_types", headers=as_token("reader-token"))
    assert r.status_code == 200
    types = r.json()["resource_types"]
    assert [t["name"] for t in types] == list(STANDARD)
    assert all(STAMP.match(t["created_at"]) and STAMP.match(t["updated_at"]) for t in types)


async def test_associations(client):
    r = await client.post(ASSOC, json={"name": "OS::Glance::Image", "prefix": "hw_",
                                       "properties_target": "image"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    assoc = r.json()
    assert assoc["name"] == "OS::Glance::Image" and assoc["prefix"] == "hw_"
    assert assoc["properties_target"] == "image" and STAMP.match(assoc["created_at"])
    assert (await client.post(ASSOC, json={"name": "OS::Glance::Image"}, headers=ADMIN)).status_code == 409
    assert (await client.post(ASSOC, json={"name": "OS::Nova::Server"})).status_code == 403
    assert (await client.post(ASSOC, json={"prefix": "x"}, headers=ADMIN)).status_code == 400
    # A new resource type name registers that type.
    assert (await client.post(ASSOC, json={"name": "Kumo::Thing"}, headers=ADMIN)).status_code == 201
    types = [t["name"] for t in (await client.get("/v2/metadefs/resource_types")).json()["resource_types"]]
    assert types[-1] == "Kumo::Thing"
    listed = (await client.get(ASSOC)).json()["resource_type_associations"]
    assert {a["name"] for a in listed} == {"OS::Glance::Image", "Kumo::Thing"}
    await unprotect(client, True)
    assert (await client.delete(f"{ASSOC}/Kumo::Thing", headers=ADMIN)).status_code == 403
    await unprotect(client, False)
    assert (await client.delete(f"{ASSOC}/Kumo::Thing", headers=ADMIN)).status_code == 204
    assert (await client.delete(f"{ASSOC}/Kumo::Thing", headers=ADMIN)).status_code == 404
    listed = (await client.get(ASSOC)).json()["resource_type_associations"]
    assert [a["name"] for a in listed] == ["OS::Glance::Image"]


async def test_seeding_is_idempotent(client, mount, rt):
    from kumo.image.api import component
    again = component(rt)
    await again.start()          # a restart on the same database
    try:
        types = [t["name"] for t in (await client.get("/v2/metadefs/resource_types")).json()["resource_types"]]
        assert types == list(STANDARD)
    finally:
        await again.stop()


# --- schemas --------------------------------------------------------------------------------

SCHEMA_NAMES = {"namespace": "namespace", "namespaces": "namespaces", "object": "object",
                "objects": "objects", "property": "property", "properties": "properties", "tag": "tag",
                "tags": "tags", "resource_type": "resource_type_association",
                "resource_types": "resource_type_associations"}


async def test_schema_documents(client):
    import jsonschema
    for kind, name in SCHEMA_NAMES.items():
        r = await client.get(f"/v2/schemas/metadefs/{kind}", headers=as_token("reader-token"))
        assert r.status_code == 200, kind
        doc = r.json()
        assert doc["name"] == name
        jsonschema.Draft4Validator.check_schema(doc)


async def test_views_match_their_schemas(client):
    import jsonschema
    await make_ns(client, "Kumo::Checked", visibility="public", display_name="C", description="d",
                  properties={"p": {"title": "P", "type": "string"}}, objects=[{"name": "o"}],
                  tags=[{"name": "t"}], resource_type_associations=[{"name": "OS::Glance::Image"}])

    def check(kind: str, body: dict) -> None:
        jsonschema.Draft4Validator(schemas[kind]).validate(body)

    schemas = {k: (await client.get(f"/v2/schemas/metadefs/{k}")).json() for k in SCHEMA_NAMES}
    base = f"{NS}/Kumo::Checked"
    check("namespace", (await client.get(base)).json())
    check("namespaces", (await client.get(NS)).json())
    check("object", (await client.get(f"{base}/objects/o")).json())
    check("objects", (await client.get(f"{base}/objects")).json())
    check("property", (await client.get(f"{base}/properties/p")).json())
    check("properties", (await client.get(f"{base}/properties")).json())
    check("tag", (await client.get(f"{base}/tags/t")).json())
    check("tags", (await client.get(f"{base}/tags")).json())
    check("resource_types", (await client.get(f"{base}/resource_types")).json())


async def test_unknown_schema_is_404(client):
    assert (await client.get("/v2/schemas/metadefs/widget")).status_code == 404
