"""The agent behind the real compute API, conductor and scheduler (fake driver).

``openstack server create`` as the API sees it: POST /servers -> scheduler
claim -> build_instance on this agent -> ACTIVE with the port the agent made;
console output through the API; DELETE -> terminate on the agent -> the
server is gone, its port deleted and its directory removed. Image and network
APIs are the in-process fakes of tests/api/test_compute_agent.py.
"""
from __future__ import annotations

import asyncio

import httpx
import pytest

from kumo.compute import agent as compute_agent
from kumo.compute import api as compute_api
from kumo.compute import scheduler
from tests.api.test_compute_agent import NET_ID, FakeImageAPI, FakeNetworkAPI, bootable_raw, wait_until


async def wait_for_status(client, server_id, wanted, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await client.get(f"/v2.1/servers/{server_id}")
        if r.status_code == 200 and r.json()["server"]["status"] == wanted:
            return r.json()["server"]
        if wanted == "DELETED" and r.status_code == 404:
            return None
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"server {server_id} never became {wanted}: {r.status_code} {r.text}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def cloud(rt, router, mount):
    network, images = FakeNetworkAPI(), FakeImageAPI()
    router.add(rt.settings.endpoint("network"), network.app)
    router.add(rt.settings.endpoint("image"), images.app)
    demo = await mount(compute_api.component)
    await mount(scheduler.component)
    agent = await mount(compute_agent.component)
    await wait_until(lambda: agent.manager.last_report is not None)  # this host is now a candidate
    admin = httpx.AsyncClient(transport=router, base_url=str(demo.base_url),
                              headers={"X-Auth-Token": "admin-token"}, timeout=30)
    r = await admin.post("/v2.1/flavors", json={"flavor": {"name": "m1.tiny", "id": "1", "ram": 512,
                                                            "vcpus": 1, "disk": 1}})
    assert r.status_code == 200, r.text
    yield type("Cloud", (), {"demo": demo, "admin": admin, "network": network, "images": images,
                             "agent": agent, "rt": rt})
    await admin.aclose()


async def test_boot_console_delete_through_the_api(cloud):
    image_id = cloud.images.add(bootable_raw())
    r = await cloud.demo.post("/v2.1/servers", json={"server": {
        "name": "vm1", "imageRef": image_id, "flavorRef": "1", "networks": [{"uuid": NET_ID}]}})
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    await cloud.rt.bus.drain()
    server = await wait_for_status(cloud.demo, server_id, "ACTIVE")
    assert server["OS-EXT-STS:power_state"] == 1
    assert server["OS-EXT-STS:task_state"] is None
    port, = cloud.network.ports.values()
    assert port["device_id"] == server_id and port["binding:host_id"] == "testhost"
    addrs = server["addresses"]["private"]
    assert addrs[0]["addr"] == port["fixed_ips"][0]["ip_address"]
    assert (cloud.rt.settings.instances_dir / server_id / "disk").exists()

    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"os-getConsoleOutput": {"length": 5}})
    assert r.status_code == 200, r.text
    output = r.json()["output"]  # the fake boot log's last 5 lines
    assert len(output.split("\n")) == 5 and output.endswith("instance-00000001 login: ")

    r = await cloud.demo.delete(f"/v2.1/servers/{server_id}")
    assert r.status_code == 204, r.text
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "DELETED")
    assert cloud.network.ports == {}
    assert not (cloud.rt.settings.instances_dir / server_id).exists()
    assert server_id not in cloud.agent.driver.guests


async def test_unbootable_image_shows_the_fault_through_the_api(cloud):
    image_id = cloud.images.add(bytes(1024 * 1024))
    r = await cloud.demo.post("/v2.1/servers", json={"server": {
        "name": "vm2", "imageRef": image_id, "flavorRef": "1", "networks": [{"uuid": NET_ID}]}})
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    await cloud.rt.bus.drain()
    server = await wait_for_status(cloud.demo, server_id, "ERROR")
    assert server["fault"]["message"] == (f"Image {image_id} is not a bootable disk: "
                                          "no MBR boot signature or partition table")
    assert server["fault"]["code"] == 500
    assert cloud.network.ports == {}
    assert not (cloud.rt.settings.instances_dir / server_id).exists()
