"""Compute API server lifecycle actions end to end (real compute API, scheduler, conductor and
agent with the fake driver; in-process fake image and network APIs): pause/unpause,
suspend/resume, rescue/unrescue, resize with confirm/revert, rebuild, createImage,
createBackup, shelve/unshelve, soft delete with restore/forceDelete/reclaim, and nova's 409s.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import uuid as uuidlib

import httpx
import pytest
from sqlalchemy import update
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tempest.lib.api_schema.response.compute.v2_1 import migrations as tempest_migrations
from tempest.lib.api_schema.response.compute.v2_1 import servers as tempest_servers
from tempest.lib.api_schema.response.compute.v2_75 import servers as tempest_servers_275
from tempest.lib.common import jsonschema_validator

from kumo.common.db import utcnow
from kumo.compute import agent as compute_agent
from kumo.compute import api as compute_api
from kumo.compute import scheduler
from kumo.compute.api.views import plain_addresses
from kumo.compute.models import Instance
from kumo.compute.virt import base
from tests.api.test_compute_agent import NET_ID, FakeImageAPI, FakeNetworkAPI, bootable_raw, wait_until
from tests.api.test_compute_agent_e2e import wait_for_status

GiB = 1024 ** 3


class WritableImageAPI(FakeImageAPI):
    """FakeImageAPI plus create, upload, delete and a filtered list (what snapshots need)."""

    def __init__(self):
        super().__init__()
        self.deleted: list[str] = []
        self.app.router.routes[:0] = [
            Route("/v2/images", self.create, methods=["POST"]),
            Route("/v2/images", self.list, methods=["GET"]),
            Route("/v2/images/{id}/file", self.upload, methods=["PUT"]),
            Route("/v2/images/{id}", self.delete, methods=["DELETE"]),
        ]
        self._order = 0

    async def create(self, request: Request):
        body = await request.json()
        image_id = str(uuidlib.uuid4())
        self._order += 1
        meta = dict(body, id=image_id, status="queued", size=None, checksum=None,
                    owner=request.headers.get("X-Auth-Token"), created_at=f"{self._order:06d}")
        self.images[image_id] = (meta, b"")
        return JSONResponse(meta, status_code=201)

    async def upload(self, request: Request):
        meta, _ = self._image(request)
        data = await request.body()
        meta.update(status="active", size=len(data), checksum=hashlib.md5(data).hexdigest(),
                    os_hash_algo="sha512", os_hash_value=hashlib.sha512(data).hexdigest())
        self.images[meta["id"]] = (meta, data)
        return Response(status_code=204)

    async def delete(self, request: Request):
        self._image(request)
        self.deleted.append(request.path_params["id"])
        del self.images[request.path_params["id"]]
        return Response(status_code=204)

    async def list(self, request: Request):
        q = dict(request.query_params)
        sort_dir = q.pop("sort_dir", "desc")
        q.pop("sort_key", None)
        found = [m for m, _ in self.images.values() if all(str(m.get(k)) == v for k, v in q.items())]
        found.sort(key=lambda m: m["created_at"], reverse=sort_dir == "desc")
        return JSONResponse({"images": found})


@pytest.fixture
async def lc(rt, router, mount):
    network, images = FakeNetworkAPI(), WritableImageAPI()
    router.add(rt.settings.endpoint("network"), network.app)
    router.add(rt.settings.endpoint("image"), images.app)
    comps = []

    def api_component(rt):
        comps.append(compute_api.component(rt))
        return comps[-1]

    demo = await mount(api_component)
    await mount(scheduler.component)
    agent = await mount(compute_agent.component)
    await wait_until(lambda: agent.manager.last_report is not None)
    admin = httpx.AsyncClient(transport=router, base_url=str(demo.base_url),
                              headers={"X-Auth-Token": "admin-token"}, timeout=30)
    for fid, ram, vcpus, disk in (("1", 512, 1, 1), ("2", 1024, 2, 2), ("3", 256, 1, 0)):
        r = await admin.post("/v2.1/flavors", json={"flavor": {
            "name": f"f{fid}", "id": fid, "ram": ram, "vcpus": vcpus, "disk": disk}})
        assert r.status_code == 200, r.text
    env = type("Env", (), {"demo": demo, "admin": admin, "network": network, "images": images,
                           "agent": agent, "driver": agent.driver, "rt": rt,
                           "svc": comps[0].app.state.compute,
                           "image_id": images.add(bootable_raw())})
    yield env
    await admin.aclose()


async def boot(env, name="vm") -> dict:
    r = await env.demo.post("/v2.1/servers", json={"server": {
        "name": name, "imageRef": env.image_id, "flavorRef": "1", "networks": [{"uuid": NET_ID}]}})
    assert r.status_code == 202, r.text
    await env.rt.bus.drain()
    return await wait_for_status(env.demo, r.json()["server"]["id"], "ACTIVE")


async def act(env, server_id, body, client=None, version=None):
    headers = {"OpenStack-API-Version": f"compute {version}"} if version else {}
    r = await (client or env.demo).post(f"/v2.1/servers/{server_id}/action", json=body, headers=headers)
    await env.rt.bus.drain()
    return r


def conflict(r, message: str) -> None:
    assert r.status_code == 409, r.text
    assert r.json()["conflictingRequest"]["message"] == message


def tempest_valid(schema: dict, r) -> None:
    """The response as Tempest's response schema (with its format checker) wants it."""
    assert r.status_code in schema["status_code"], r.text
    jsonschema_validator.JSONSCHEMA_VALIDATOR(
        schema["response_body"], format_checker=jsonschema_validator.FORMAT_CHECKER).validate(r.json())


def virtual_size(path) -> int:
    out = subprocess.run(["qemu-img", "info", "-U", "--output", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["virtual-size"]


async def test_pause_unpause_suspend_resume(lc):
    server = await boot(lc)
    sid = server["id"]
    assert (await act(lc, sid, {"pause": None})).status_code == 202
    server = await wait_for_status(lc.demo, sid, "PAUSED")
    assert server["OS-EXT-STS:power_state"] == base.PAUSED
    assert lc.driver.guests[sid]["power_state"] == base.PAUSED
    conflict(await act(lc, sid, {"pause": None}), f"Cannot 'pause' instance {sid} while it is in vm_state paused")
    conflict(await act(lc, sid, {"suspend": None}),
             f"Cannot 'suspend' instance {sid} while it is in vm_state paused")
    assert (await act(lc, sid, {"unpause": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "ACTIVE")
    conflict(await act(lc, sid, {"resume": None}), f"Cannot 'resume' instance {sid} while it is in vm_state active")

    assert (await act(lc, sid, {"suspend": None})).status_code == 202
    server = await wait_for_status(lc.demo, sid, "SUSPENDED")
    assert lc.driver.guests[sid]["power_state"] == base.SUSPENDED
    assert server["OS-EXT-STS:task_state"] is None
    assert (await act(lc, sid, {"resume": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "ACTIVE")
    assert lc.driver.guests[sid]["power_state"] == base.RUNNING

    # a reader may look but not act; an unknown server is 404
    r = await act(lc, sid, {"pause": None}, client=httpx.AsyncClient(
        transport=lc.demo._transport, base_url=str(lc.demo.base_url), headers={"X-Auth-Token": "reader-token"}))
    assert r.status_code in (403, 404), r.text
    assert (await act(lc, str(uuidlib.uuid4()), {"pause": None})).status_code == 404
    r = await env_actions(lc, sid)
    assert {"pause", "unpause", "suspend", "resume"} <= r
    r = await lc.admin.get(f"/v2.1/servers/{sid}/os-instance-actions")
    pause = next(a for a in r.json()["instanceActions"] if a["action"] == "pause")
    r = await lc.admin.get(f"/v2.1/servers/{sid}/os-instance-actions/{pause['request_id']}")
    events = r.json()["instanceAction"]["events"]
    assert [(e["event"], e["result"]) for e in events] == [("compute_pause_instance", "Success")]


async def env_actions(env, sid) -> set[str]:
    r = await env.demo.get(f"/v2.1/servers/{sid}/os-instance-actions")
    assert r.status_code == 200, r.text
    return {a["action"] for a in r.json()["instanceActions"]}


async def test_failed_pause_leaves_the_server_usable(lc):
    sid = (await boot(lc))["id"]
    lc.driver.guests[sid]["power_state"] = base.SHUTDOWN  # the fake refuses to pause it
    assert (await act(lc, sid, {"pause": None})).status_code == 202
    server = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert server["OS-EXT-STS:task_state"] is None
    assert server["OS-EXT-STS:power_state"] == base.SHUTDOWN
    r = await lc.admin.get(f"/v2.1/servers/{sid}/os-instance-actions")
    pause = next(a for a in r.json()["instanceActions"] if a["action"] == "pause")
    assert pause["message"] == "Error"


async def test_rescue_and_unrescue(lc):
    sid = (await boot(lc))["id"]
    rescue_image = lc.images.add(bootable_raw())
    r = await act(lc, sid, {"rescue": {"adminPass": "s3cret", "rescue_image_ref": rescue_image}})
    assert r.status_code == 200, r.text
    assert r.json() == {"adminPass": "s3cret"}
    tempest_valid(tempest_servers.rescue_server_with_admin_pass, r)
    await wait_for_status(lc.demo, sid, "RESCUE")
    inst_dir = lc.rt.settings.instances_dir / sid
    assert lc.driver.guests[sid]["disks"] == {"vda": str(inst_dir / "disk.rescue"), "vdb": str(inst_dir / "disk")}
    conflict(await act(lc, sid, {"rescue": None}), f"Cannot 'rescue' instance {sid} while it is in vm_state rescued")
    assert (await act(lc, sid, {"unrescue": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "ACTIVE")
    assert lc.driver.guests[sid]["disks"] == {"vda": str(inst_dir / "disk")}
    assert not (inst_dir / "disk.rescue").exists()
    conflict(await act(lc, sid, {"unrescue": None}),
             f"Cannot 'unrescue' instance {sid} while it is in vm_state active")
    # no body: the server's own image and a generated password; a bad image is 400
    r = await act(lc, sid, {"rescue": None})
    assert r.status_code == 200 and len(r.json()["adminPass"]) >= 8
    await wait_for_status(lc.demo, sid, "RESCUE")
    assert (await act(lc, sid, {"unrescue": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "ACTIVE")
    r = await act(lc, sid, {"rescue": {"rescue_image_ref": str(uuidlib.uuid4())}})
    assert r.status_code == 400, r.text
    r = await act(lc, sid, {"rescue": {"bogus": 1}})
    assert r.status_code == 400, r.text


async def test_resize_confirm_and_revert(lc):
    sid = (await boot(lc))["id"]
    disk = lc.rt.settings.instances_dir / sid / "disk"
    assert virtual_size(disk) == GiB
    r = await act(lc, sid, {"resize": {"flavorRef": "1"}})
    assert r.status_code == 400 and "must change flavor" in r.text
    assert (await act(lc, sid, {"resize": {"flavorRef": "99"}})).status_code == 400
    assert (await act(lc, sid, {"resize": {}})).status_code == 400
    assert (await act(lc, sid, {"resize": {"flavorRef": "3"}})).status_code == 400  # disk down
    conflict(await act(lc, sid, {"confirmResize": None}),
             f"Cannot 'confirmResize' instance {sid} while it is in vm_state active")

    assert (await act(lc, sid, {"resize": {"flavorRef": "2"}})).status_code == 202
    server = await wait_for_status(lc.demo, sid, "VERIFY_RESIZE")
    assert server["flavor"]["id"] == "2"
    assert virtual_size(disk) == 2 * GiB
    assert lc.driver.guests[sid]["flavor"]["ram"] == 1024
    assert lc.driver.guests[sid]["power_state"] == base.RUNNING
    assert (await act(lc, sid, {"revertResize": None})).status_code == 202
    server = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert server["flavor"]["id"] == "1"
    assert virtual_size(disk) == GiB
    assert lc.driver.guests[sid]["flavor"]["ram"] == 512

    assert (await act(lc, sid, {"resize": {"flavorRef": "2"}})).status_code == 202
    await wait_for_status(lc.demo, sid, "VERIFY_RESIZE")
    r = await act(lc, sid, {"confirmResize": None})
    assert r.status_code == 204, r.text
    server = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert server["flavor"]["id"] == "2"
    assert virtual_size(disk) == 2 * GiB
    assert not (disk.parent / "disk.resize-orig").exists()
    # the two resizes as os-migrations (admin only)
    r = await lc.admin.get("/v2.1/os-migrations", params={"instance_uuid": sid})
    tempest_valid(tempest_migrations.list_migrations, r)
    assert [(m["status"], m["source_compute"], m["dest_compute"]) for m in r.json()["migrations"]] == [
        ("confirmed", "testhost", "testhost"), ("reverted", "testhost", "testhost")]
    r = await lc.admin.get("/v2.1/os-migrations", headers={"OpenStack-API-Version": "compute 2.59"})
    assert r.json()["migrations"][0]["migration_type"] == "resize" and "uuid" in r.json()["migrations"][0]
    assert (await lc.demo.get("/v2.1/os-migrations")).status_code == 403


async def test_resize_past_the_quota_is_403(lc):
    sid = (await boot(lc))["id"]
    r = await lc.admin.post("/v2.1/flavors", json={"flavor": {"name": "huge", "id": "9", "ram": 60000,
                                                               "vcpus": 1, "disk": 1}})
    assert r.status_code == 200, r.text
    r = await act(lc, sid, {"resize": {"flavorRef": "9"}})
    assert r.status_code == 403, r.text
    assert r.json()["forbidden"]["message"].startswith("Quota exceeded for ram: Requested 59488")
    assert (await lc.demo.get(f"/v2.1/servers/{sid}")).json()["server"]["status"] == "ACTIVE"


async def test_resize_a_stopped_server_stays_stopped(lc):
    sid = (await boot(lc))["id"]
    assert (await act(lc, sid, {"os-stop": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "SHUTOFF")
    assert (await act(lc, sid, {"resize": {"flavorRef": "2"}})).status_code == 202
    await wait_for_status(lc.demo, sid, "VERIFY_RESIZE")
    assert lc.driver.guests[sid]["power_state"] == base.SHUTDOWN
    assert (await act(lc, sid, {"confirmResize": None})).status_code == 204
    await wait_for_status(lc.demo, sid, "SHUTOFF")


async def test_rebuild_keeps_ports_and_changes_image(lc):
    server = await boot(lc)
    sid = server["id"]
    port_ids = set(lc.network.ports)
    new_image = lc.images.add(bootable_raw(2 * 1024 * 1024))
    r = await act(lc, sid, {"rebuild": {"imageRef": new_image, "name": "rebuilt", "adminPass": "pw1",
                                        "metadata": {"k": "v"}}})
    assert r.status_code == 202, r.text
    body = r.json()["server"]
    tempest_valid(tempest_servers.rebuild_server_with_admin_pass, r)
    assert (body["id"], body["name"], body["adminPass"], body["metadata"]) == (sid, "rebuilt", "pw1", {"k": "v"})
    assert body["image"]["id"] == new_image
    server = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert server["image"]["id"] == new_image
    assert plain_addresses(server["addresses"]) == body["addresses"]  # not extended before 2.75
    assert set(lc.network.ports) == port_ids
    assert lc.driver.guests[sid]["power_state"] == base.RUNNING
    assert not (lc.rt.settings.instances_dir / f"{sid}.rebuild").exists()
    # stopped stays stopped; bad input is 400
    assert (await act(lc, sid, {"os-stop": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "SHUTOFF")
    assert (await act(lc, sid, {"rebuild": {"imageRef": lc.image_id}})).status_code == 202
    await wait_for_status(lc.demo, sid, "SHUTOFF")
    assert lc.driver.guests[sid]["power_state"] == base.SHUTDOWN
    assert (await act(lc, sid, {"rebuild": {"imageRef": str(uuidlib.uuid4())}})).status_code == 400
    assert (await act(lc, sid, {"rebuild": {}})).status_code == 400
    for client in (lc.demo, lc.admin):  # 2.75: the body is the full server of GET, user_data by name
        r = await act(lc, sid, {"rebuild": {"imageRef": lc.image_id}}, client=client, version="2.75")
        tempest_valid(tempest_servers_275.rebuild_server_with_admin_pass, r)
        await wait_for_status(lc.demo, sid, "SHUTOFF")
    assert (await act(lc, sid, {"rebuild": {"imageRef": lc.image_id, "key_name": "nope"}},
                      version="2.54")).status_code == 400


async def test_create_image_uploads_a_standalone_qcow2(lc):
    lc.images.images[lc.image_id][0].update(min_ram=64, hw_disk_bus="virtio")
    sid = (await boot(lc))["id"]
    r = await act(lc, sid, {"createImage": {"name": "snap", "metadata": {"purpose": "test"}}}, version="2.45")
    assert r.status_code == 202, r.text
    image_id = r.json()["image_id"]
    server = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert server["OS-EXT-STS:task_state"] is None
    meta, data = lc.images.images[image_id]
    assert meta["status"] == "active" and data[:4] == b"QFI\xfb"
    assert (meta["instance_uuid"], meta["image_type"], meta["purpose"], meta["disk_format"]) == (
        sid, "snapshot", "test", "qcow2")
    assert meta["base_image_ref"] == lc.image_id
    assert meta["owner"] == "demo-token"  # created with the caller's token
    assert (meta["min_ram"], meta["min_disk"], meta["hw_disk_bus"]) == (64, 1, "virtio")  # base image's
    # the caller's metadata wins over nova's properties
    r = await act(lc, sid, {"createImage": {"name": "s3", "metadata": {"image_type": "test"}}}, version="2.45")
    assert lc.images.images[r.json()["image_id"]][0]["image_type"] == "test"
    await wait_for_status(lc.demo, sid, "ACTIVE")
    # before 2.45: no body, the image's Location
    r = await act(lc, sid, {"createImage": {"name": "snap2"}})
    assert r.status_code == 202 and r.content == b""
    assert r.headers["Location"].endswith("/images/" + r.headers["Location"].rsplit("/", 1)[-1])
    assert (await act(lc, sid, {"createImage": {}})).status_code == 400
    assert not list((lc.rt.settings.instances_dir / "_snapshots").iterdir())


async def test_failed_snapshot_deletes_the_image(lc):
    sid = (await boot(lc))["id"]
    (lc.rt.settings.instances_dir / sid / "disk").unlink()  # nothing to copy
    r = await act(lc, sid, {"createImage": {"name": "broken"}}, version="2.45")
    assert r.status_code == 202
    await wait_for_status(lc.demo, sid, "ACTIVE")
    assert r.json()["image_id"] in lc.images.deleted


async def test_create_backup_rotates(lc):
    sid = (await boot(lc))["id"]
    ids = []
    for n in range(3):
        r = await act(lc, sid, {"createBackup": {"name": f"b{n}", "backup_type": "daily", "rotation": 2}},
                      version="2.45")
        assert r.status_code == 202, r.text
        ids.append(r.json()["image_id"])
        await wait_for_status(lc.demo, sid, "ACTIVE")
    assert ids[0] in lc.images.deleted
    assert all(i in lc.images.images for i in ids[1:])
    assert lc.images.images[ids[2]][0]["image_type"] == "backup"
    r = await act(lc, sid, {"createBackup": {"name": "x", "backup_type": "daily", "rotation": -1}})
    assert r.status_code == 400


async def test_shelve_offload_and_unshelve(lc):
    server = await boot(lc)
    sid = server["id"]
    assert (await act(lc, sid, {"shelve": None})).status_code == 202
    server = await wait_for_status(lc.demo, sid, "SHELVED_OFFLOADED")
    assert sid not in lc.driver.guests
    assert not (lc.rt.settings.instances_dir / sid).exists()
    shelved = [m for m, _ in lc.images.images.values() if m.get("instance_uuid") == sid]
    assert [m["name"] for m in shelved] == ["vm-shelved"] and shelved[0]["status"] == "active"
    port, = lc.network.ports.values()
    assert port["device_id"] == sid and port["binding:host_id"] == ""
    r = await lc.admin.get(f"/v2.1/servers/{sid}")
    assert r.json()["server"]["OS-EXT-SRV-ATTR:host"] is None
    conflict(await act(lc, sid, {"pause": None}),
             f"Cannot 'pause' instance {sid} while it is in vm_state shelved_offloaded")

    assert (await act(lc, sid, {"unshelve": None})).status_code == 202
    after = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert after["addresses"] == server["addresses"]
    assert lc.driver.guests[sid]["power_state"] == base.RUNNING
    assert port["binding:host_id"] == "testhost"
    assert shelved[0]["id"] in lc.images.deleted


async def test_shelve_without_offload_then_offload(lc):
    lc.rt.settings.compute.shelved_offload_time = -1
    sid = (await boot(lc))["id"]
    assert (await act(lc, sid, {"shelve": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "SHELVED")
    assert lc.driver.guests[sid]["power_state"] == base.SHUTDOWN
    r = await act(lc, sid, {"shelveOffload": None})
    assert r.status_code == 403  # admin only
    assert (await act(lc, sid, {"shelveOffload": None}, client=lc.admin)).status_code == 202
    await wait_for_status(lc.demo, sid, "SHELVED_OFFLOADED")
    assert (await act(lc, sid, {"unshelve": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "ACTIVE")
    # deleting a shelved server deletes its snapshot too
    assert (await act(lc, sid, {"shelve": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "SHELVED")
    image_id, = [i for i, (m, _) in lc.images.images.items() if m.get("instance_uuid") == sid]
    assert (await lc.demo.delete(f"/v2.1/servers/{sid}")).status_code == 204
    await lc.rt.bus.drain()
    await wait_for_status(lc.demo, sid, "DELETED")
    assert image_id in lc.images.deleted and sid not in lc.driver.guests


async def test_soft_delete_restore_force_delete_and_reclaim(lc):
    lc.rt.settings.compute.reclaim_instance_interval = 3600
    sid = (await boot(lc))["id"]
    conflict(await act(lc, sid, {"restore": None}),
             f"Cannot 'restore' instance {sid} while it is in vm_state active")
    assert (await lc.demo.delete(f"/v2.1/servers/{sid}")).status_code == 204
    await lc.rt.bus.drain()
    await wait_for_status(lc.demo, sid, "SOFT_DELETED")
    assert lc.driver.guests[sid]["power_state"] == base.SHUTDOWN
    assert (await act(lc, sid, {"restore": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "ACTIVE")
    assert lc.driver.guests[sid]["power_state"] == base.RUNNING

    assert (await lc.demo.delete(f"/v2.1/servers/{sid}")).status_code == 204
    await lc.rt.bus.drain()
    await wait_for_status(lc.demo, sid, "SOFT_DELETED")
    assert (await act(lc, sid, {"forceDelete": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "DELETED")
    assert sid not in lc.driver.guests and lc.network.ports == {}

    # the periodic reclaim deletes what stayed soft-deleted past the interval
    sid2 = (await boot(lc, "vm2"))["id"]
    assert (await lc.demo.delete(f"/v2.1/servers/{sid2}")).status_code == 204
    await lc.rt.bus.drain()
    await wait_for_status(lc.demo, sid2, "SOFT_DELETED")
    assert await lc.svc.reclaim() == 0
    async with lc.svc.db.session() as s:
        await s.execute(update(Instance).where(Instance.uuid == sid2).values(
            updated_at=utcnow().replace(year=2000)))
    assert await lc.svc.reclaim() == 1
    await lc.rt.bus.drain()
    await wait_for_status(lc.demo, sid2, "DELETED")

    # a server busy with a task is deleted at once
    sid3 = (await boot(lc, "vm3"))["id"]
    async with lc.svc.db.session() as s:
        await s.execute(update(Instance).where(Instance.uuid == sid3).values(task_state="pausing"))
    assert (await lc.demo.delete(f"/v2.1/servers/{sid3}")).status_code == 204
    await lc.rt.bus.drain()
    await wait_for_status(lc.demo, sid3, "DELETED")
