"""Helpers shared by the image API tests (no tests here)."""
from __future__ import annotations

import httpx

from kumo.image.api import component

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
OCTET = {"Content-Type": "application/octet-stream"}


def as_token(token: str) -> dict:
    return {"X-Auth-Token": token}


async def image_client(mount) -> httpx.AsyncClient:
    return await mount(component)


async def create(client: httpx.AsyncClient, token: str = "demo-token", **body) -> dict:
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    r = await client.post("/v2/images", json=body, headers=as_token(token))
    assert r.status_code == 201, r.text
    return r.json()


async def upload(client: httpx.AsyncClient, image_id: str, data: bytes, token: str = "demo-token") -> httpx.Response:
    return await client.put(f"/v2/images/{image_id}/file", content=data,
                            headers={**OCTET, **as_token(token)})


async def patch(client: httpx.AsyncClient, image_id: str, ops: list, token: str = "demo-token") -> httpx.Response:
    return await client.patch(f"/v2/images/{image_id}", json=ops,
                              headers={"Content-Type": PATCH_TYPE, **as_token(token)})
