"""Listing images: visibility, filters, sorting and pagination."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.test_image_support import as_token, create, image_client, upload
from tests.fakes import PROJECTS


@pytest.fixture
async def client(mount):
    return await image_client(mount)


def names(body: dict) -> list[str]:
    return [i["name"] for i in body["images"]]


async def test_list_body_shape(client):
    await create(client, name="one")
    r = await client.get("/v2/images")
    assert r.status_code == 200
    body = r.json()
    assert body["first"] == "/v2/images"
    assert body["schema"] == "/v2/schemas/images"
    assert "next" not in body
    assert names(body) == ["one"]


async def test_visibility_isolation(client):
    await create(client, name="demo-private", visibility="private")
    await create(client, name="demo-shared")
    await create(client, "alt-token", name="alt-private", visibility="private")
    await create(client, "alt-token", name="alt-community", visibility="community")
    await create(client, "admin-token", name="public", visibility="public")

    demo = names((await client.get("/v2/images?sort=name:asc")).json())
    assert demo == ["demo-private", "demo-shared", "public"]
    alt = names((await client.get("/v2/images?sort=name:asc", headers=as_token("alt-token"))).json())
    assert alt == ["alt-community", "alt-private", "public"]
    # others' community images only with visibility=community or all
    r = await client.get("/v2/images?visibility=community")
    assert names(r.json()) == ["alt-community"]
    r = await client.get("/v2/images?visibility=all&sort=name:asc")
    assert names(r.json()) == ["alt-community", "demo-private", "demo-shared", "public"]
    r = await client.get("/v2/images?visibility=private", headers=as_token("alt-token"))
    assert names(r.json()) == ["alt-private"]
    admin = names((await client.get("/v2/images?sort=name:asc", headers=as_token("admin-token"))).json())
    assert admin == ["alt-community", "alt-private", "demo-private", "demo-shared", "public"]
    # a community image can be shown by anyone, a private one only by its project
    alt_imgs = (await client.get("/v2/images", headers=as_token("alt-token"))).json()["images"]
    by_name = {i["name"]: i["id"] for i in alt_imgs}
    assert (await client.get(f"/v2/images/{by_name['alt-community']}")).status_code == 200
    assert (await client.get(f"/v2/images/{by_name['alt-private']}")).status_code == 404


async def test_filters(client):
    a = await create(client, name="a", disk_format="ami", tags=["x", "y"], os_distro="debian")
    await upload(client, a["id"], b"1" * 100)
    b = await create(client, name="b", disk_format="raw", tags=["x"], os_distro="ubuntu")
    await upload(client, b["id"], b"2" * 10)
    await create(client, name="c", disk_format="iso", container_format="bare", protected=True)
    await create(client, "alt-token", name="a", visibility="private")

    async def q(query: str) -> list[str]:
        r = await client.get(f"/v2/images?sort=name:asc&{query}")
        assert r.status_code == 200, r.text
        return names(r.json())

    assert await q("name=a") == ["a"]
    assert await q("name=in:a,c") == ["a", "c"]
    assert await q("status=active") == ["a", "b"]
    assert await q("status=queued") == ["c"]
    assert await q("disk_format=raw") == ["b"]
    assert await q("container_format=bare") == ["a", "b", "c"]
    assert await q("tag=x") == ["a", "b"]
    assert await q("tag=x&tag=y") == ["a"]
    assert await q("size_min=50") == ["a"]
    assert await q("size_max=50") == ["b"]
    assert await q("size=100") == ["a"]
    assert await q("size=10") == ["b"]
    assert await q("size=11") == []
    assert await q("protected=true") == ["c"]
    assert await q("os_distro=ubuntu") == ["b"]
    assert await q(f"owner={PROJECTS['demo']}") == ["a", "b", "c"]
    assert await q(f"owner={PROJECTS['alt']}") == []
    assert await q(f"id={b['id']}") == ["b"]
    assert await q("member_status=accepted") == ["a", "b", "c"]
    assert await q("created_at=gte:2000-01-01T00:00:00Z") == ["a", "b", "c"]
    assert await q("created_at=lt:2000-01-01T00:00:00Z") == []


@pytest.mark.parametrize("query", ["status=bogus", "visibility=nobody", "limit=-1", "limit=ten",
                                   "sort_key=password", "sort_dir=sideways", "size_min=big", "size=big", "size=-1",
                                   "protected=maybe", "sort=name&sort_key=name",
                                   "created_at=gt:yesterday", "marker=00000000-0000-0000-0000-000000000000"])
async def test_bad_queries_400(client, query):
    r = await client.get(f"/v2/images?{query}")
    assert r.status_code == 400, (query, r.text)
    assert "<h1>400 Bad Request</h1>" in r.text


async def test_hidden_images(client):
    await create(client, name="shown")
    await create(client, name="hidden", os_hidden=True)
    assert names((await client.get("/v2/images")).json()) == ["shown"]
    assert names((await client.get("/v2/images?os_hidden=true")).json()) == ["hidden"]


async def test_sorting(client):
    for name, size in (("b", 3), ("a", 1), ("c", 2)):
        img = await create(client, name=name)
        await upload(client, img["id"], b"s" * size)
    assert names((await client.get("/v2/images")).json()) == ["c", "a", "b"]  # created_at desc
    assert names((await client.get("/v2/images?sort_key=name&sort_dir=asc")).json()) == ["a", "b", "c"]
    assert names((await client.get("/v2/images?sort_key=size")).json()) == ["b", "c", "a"]
    assert names((await client.get("/v2/images?sort=size:asc")).json()) == ["a", "c", "b"]
    assert names((await client.get("/v2/images?sort=name:desc")).json()) == ["c", "b", "a"]


async def test_pagination_follows_next_links(client):
    created = [await create(client, name=f"img-{i:02d}") for i in range(7)]
    seen: list[str] = []
    url = "/v2/images?limit=3&sort_key=name&sort_dir=asc"
    pages = 0
    while url:
        r = await client.get(url)
        assert r.status_code == 200
        body = r.json()
        assert len(body["images"]) <= 3
        seen += names(body)
        pages += 1
        url = body.get("next")
        if url:
            qs = parse_qs(urlsplit(url).query)
            assert urlsplit(url).path == "/v2/images"
            assert qs["limit"] == ["3"] and qs["sort_key"] == ["name"]
            assert qs["marker"] == [body["images"][-1]["id"]]
    assert pages == 3
    assert seen == sorted(i["name"] for i in created)


async def test_pagination_with_ties_and_nulls(client):
    # same names (and NULL names) force the id tie-breaker into the keyset
    ids = set()
    for i in range(5):
        ids.add((await create(client, name="same"))["id"])
        ids.add((await client.post("/v2/images", json={})).json()["id"])
    seen = []
    url = "/v2/images?limit=2&sort_key=name&sort_dir=asc"
    while url:
        body = (await client.get(url)).json()
        seen += [i["id"] for i in body["images"]]
        url = body.get("next")
    assert len(seen) == len(set(seen)) == 10
    assert set(seen) == ids


async def test_default_limit_and_cap(client):
    for i in range(27):
        await create(client, name=f"n{i}")
    body = (await client.get("/v2/images")).json()
    assert len(body["images"]) == 25 and "next" in body
    body = (await client.get("/v2/images?limit=5000")).json()
    assert len(body["images"]) == 27 and "next" not in body
