"""The image API's policy file: ``<[common] policy_dir>/image.yaml`` overrides glance's defaults."""
from __future__ import annotations

import pytest

from kumo.image.api import component as image_component

DEMO = {"X-Auth-Token": "demo-token"}
BODY = {"name": "p", "disk_format": "raw", "container_format": "bare"}


@pytest.fixture
def policy_dir(settings, tmp_path):
    path = tmp_path / "policy"
    path.mkdir()
    settings.common.policy_dir = str(path)
    return path


async def _image(client) -> str:
    r = await client.post("/v2/images", json=BODY, headers=DEMO)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_override_forbids_member_delete(policy_dir, mount):
    (policy_dir / "image.yaml").write_text('delete_image: "role:admin"\n')
    client = await mount(image_component)
    image = await _image(client)
    r = await client.delete(f"/v2/images/{image}", headers=DEMO)
    assert r.status_code == 403, r.text
    assert "delete_image" in r.text
    assert (await client.get(f"/v2/images/{image}", headers=DEMO)).status_code == 200
    r = await client.delete(f"/v2/images/{image}", headers={"X-Auth-Token": "admin-token"})
    assert r.status_code == 204, r.text


async def test_defaults_let_member_delete(policy_dir, mount):
    client = await mount(image_component)
    image = await _image(client)
    assert (await client.delete(f"/v2/images/{image}", headers=DEMO)).status_code == 204
    assert (await client.get(f"/v2/images/{image}", headers=DEMO)).status_code == 404


async def test_override_opens_tasks_to_members(policy_dir, mount):
    (policy_dir / "image.yaml").write_text(
        'tasks_api_access: "role:member"\nget_tasks: "role:member"\n')
    client = await mount(image_component)
    assert (await client.get("/v2/tasks", headers=DEMO)).status_code == 200
    assert (await client.get("/v2/tasks", headers={"X-Auth-Token": "reader-token"})).status_code == 403
