"""Compute refuses (400) a server whose flavor is below the image's min_ram (MiB) or min_disk (GiB)."""
from __future__ import annotations

import pytest

from tests.api.test_compute_fakes import FakeCloud
from tests.api.test_compute_servers import make_env, server_body


@pytest.fixture
async def env(rt, router, mount):
    cloud = FakeCloud()
    cloud.mount(rt, router)
    env = await make_env(rt, router, mount, cloud)
    yield env
    for c in env.clients:
        await c.aclose()


def message(r) -> str:
    assert r.status_code == 400, r.text
    return r.json()["badRequest"]["message"]


async def test_min_ram_above_flavor_ram(env):
    image = env.cloud.add_image(min_ram=1024)  # m1.tiny has 512 MiB
    r = await env.demo.post("/v2.1/servers", json=server_body(env, imageRef=image))
    assert message(r) == "Flavor's memory is too small for requested image."
    fits = env.cloud.add_image(min_ram=512)
    r = await env.demo.post("/v2.1/servers", json=server_body(env, imageRef=fits))
    assert r.status_code == 202, r.text


async def test_min_disk_above_flavor_disk(env):
    image = env.cloud.add_image(min_disk=2)  # m1.tiny has a 1 GiB root disk
    r = await env.demo.post("/v2.1/servers", json=server_body(env, imageRef=image))
    assert "Flavor's disk is too small for requested image" in message(r)
    assert "minimum size is 2147483648 bytes" in message(r)
    fits = env.cloud.add_image(min_disk=1)
    r = await env.demo.post("/v2.1/servers", json=server_body(env, imageRef=fits))
    assert r.status_code == 202, r.text
