"""OS-DCF:diskConfig, personality files, changePassword and unshelve into a zone (2.77), through
the compute API with the real scheduler, conductor and agent on the fake driver."""
from __future__ import annotations

import base64

from sqlalchemy import select

from kumo.compute.models import Instance
from kumo.compute.virt import base
from tests.api.test_compute_agent import NET_ID
from tests.api.test_compute_agent_e2e import wait_for_status
from tests.api.test_compute_lifecycle import act, boot, conflict, lc  # noqa: F401 - lc is a fixture


def mv(version: str) -> dict:
    return {"OpenStack-API-Version": f"compute {version}"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def create(env, version: str = "2.1", **server):
    body = {"name": "vm", "imageRef": env.image_id, "flavorRef": "1", "networks": [{"uuid": NET_ID}],
            **server}
    r = await env.demo.post("/v2.1/servers", json={"server": body}, headers=mv(version))
    await env.rt.bus.drain()
    return r


async def row(env, sid: str) -> Instance:
    async with env.svc.db.session() as s:
        return (await s.execute(select(Instance).where(Instance.uuid == sid))).scalar_one()


async def show(env, sid: str) -> dict:
    return (await env.demo.get(f"/v2.1/servers/{sid}")).json()["server"]


# -- OS-DCF:diskConfig -----------------------------------------------------------------------------

async def test_disk_config_on_create_update_rebuild_and_resize(lc):
    r = await create(lc, **{"OS-DCF:diskConfig": "AUTO"})
    assert r.status_code == 202, r.text
    assert r.json()["server"]["OS-DCF:diskConfig"] == "AUTO"
    sid = r.json()["server"]["id"]
    server = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert server["OS-DCF:diskConfig"] == "AUTO"

    r = await lc.demo.put(f"/v2.1/servers/{sid}", json={"server": {"OS-DCF:diskConfig": "MANUAL"}})
    assert r.status_code == 200 and r.json()["server"]["OS-DCF:diskConfig"] == "MANUAL"
    assert (await show(lc, sid))["OS-DCF:diskConfig"] == "MANUAL"

    r = await act(lc, sid, {"rebuild": {"imageRef": lc.image_id, "OS-DCF:diskConfig": "AUTO"}})
    assert r.status_code == 202 and r.json()["server"]["OS-DCF:diskConfig"] == "AUTO"
    await wait_for_status(lc.demo, sid, "ACTIVE")
    assert (await show(lc, sid))["OS-DCF:diskConfig"] == "AUTO"

    r = await act(lc, sid, {"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "MANUAL"}})
    assert r.status_code == 202, r.text
    await wait_for_status(lc.demo, sid, "VERIFY_RESIZE")
    assert (await show(lc, sid))["OS-DCF:diskConfig"] == "MANUAL"


async def test_disk_config_defaults_to_manual_and_refuses_other_values(lc):
    server = await boot(lc)
    assert server["OS-DCF:diskConfig"] == "MANUAL"
    assert (await create(lc, **{"OS-DCF:diskConfig": "auto"})).status_code == 400
    r = await lc.demo.put(f"/v2.1/servers/{server['id']}", json={"server": {"OS-DCF:diskConfig": 1}})
    assert r.status_code == 400
    r = await act(lc, server["id"], {"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "NONE"}})
    assert r.status_code == 400
    assert (await show(lc, server["id"]))["status"] == "ACTIVE"


# -- personality -------------------------------------------------------------------------------------

async def test_personality_files_are_kept_for_the_guest(lc):
    files = [{"path": "/etc/motd", "contents": b64("hello")}, {"path": "rel.txt", "contents": b64("x")}]
    r = await create(lc, personality=files)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    await wait_for_status(lc.demo, sid, "ACTIVE")
    assert (await row(lc, sid)).injected_files == files
    # rebuild replaces them (before 2.57)
    new = [{"path": "/rebuild.txt", "contents": b64("again")}]
    r = await act(lc, sid, {"rebuild": {"imageRef": lc.image_id, "personality": new}}, version="2.56")
    assert r.status_code == 202, r.text
    await wait_for_status(lc.demo, sid, "ACTIVE")
    assert (await row(lc, sid)).injected_files == new


async def test_personality_bad_shapes_quota_and_microversion(lc):
    r = await create(lc, personality=[{"path": "/etc/x", "contents": "not base64!"}])
    assert r.status_code == 400, r.text
    assert (await create(lc, personality=[{"path": "", "contents": b64("x")}])).status_code == 400
    assert (await create(lc, personality={"path": "/x"})).status_code == 400
    assert (await create(lc, personality=[{"path": "/x", "contents": b64("x"), "mode": 1}])).status_code == 400
    # the injected_files quota (5) and the content size quota (10240 bytes) are 403
    six = [{"path": f"/f{i}", "contents": b64("x")} for i in range(6)]
    r = await create(lc, personality=six)
    assert r.status_code == 403 and "Personality file limit exceeded" in r.text
    r = await create(lc, personality=[{"path": "/big", "contents": b64("x" * 10241)}])
    assert r.status_code == 403 and "content exceeds" in r.text
    five = [{"path": f"/f{i}", "contents": b64("x")} for i in range(5)]
    assert (await create(lc, personality=five)).status_code == 202
    # personality is gone from 2.57
    assert (await create(lc, version="2.57", personality=five)).status_code == 400
    async with lc.svc.db.session() as s:
        names = (await s.execute(select(Instance.display_name))).scalars().all()
    assert len(names) == 1  # the refused creates left nothing behind


# -- changePassword ----------------------------------------------------------------------------------

async def test_change_password(lc):
    sid = (await boot(lc))["id"]
    r = await act(lc, sid, {"changePassword": {"adminPass": "s3cret"}})
    assert r.status_code == 202, r.text
    assert lc.driver.guests[sid]["admin_password"] == "s3cret"
    r = await lc.demo.get(f"/v2.1/servers/{sid}/os-instance-actions")
    assert "changePassword" in [a["action"] for a in r.json()["instanceActions"]]
    assert (await act(lc, sid, {"changePassword": {}})).status_code == 400
    assert (await act(lc, sid, {"changePassword": {"adminPass": 5}})).status_code == 400
    assert (await act(lc, sid, {"changePassword": {"adminPass": "x", "other": 1}})).status_code == 400
    assert (await act(lc, sid, {"os-stop": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "SHUTOFF")
    conflict(await act(lc, sid, {"changePassword": {"adminPass": "x"}}),
             f"Cannot 'changePassword' instance {sid} while it is in vm_state stopped")


async def test_change_password_without_driver_support_is_409(lc, monkeypatch):
    sid = (await boot(lc))["id"]

    async def unsupported(instance, password):
        raise base.PasswordNotSupported("QEMU guest agent is not enabled")

    monkeypatch.setattr(lc.driver, "set_admin_password", unsupported)
    r = await act(lc, sid, {"changePassword": {"adminPass": "s3cret"}})
    assert r.status_code == 409, r.text
    assert "QEMU guest agent is not enabled" in r.json()["conflictingRequest"]["message"]
    assert (await show(lc, sid))["status"] == "ACTIVE"


# -- unshelve into an availability zone (2.77) -------------------------------------------------------

async def _offloaded(env) -> str:
    sid = (await boot(env))["id"]
    assert (await act(env, sid, {"shelve": None})).status_code == 202
    await wait_for_status(env.demo, sid, "SHELVED_OFFLOADED")
    return sid


async def _zone(env, name: str, host: str | None = "testhost") -> None:
    r = await env.admin.post("/v2.1/os-aggregates", json={"aggregate": {"name": name,
                                                                         "availability_zone": name}})
    assert r.status_code == 200, r.text
    if host:
        r = await env.admin.post(f"/v2.1/os-aggregates/{r.json()['aggregate']['id']}/action",
                                 json={"add_host": {"host": host}})
        assert r.status_code == 200, r.text


async def test_unshelve_into_a_zone(lc):
    sid = await _offloaded(lc)
    await _zone(lc, "az1")
    r = await act(lc, sid, {"unshelve": {"availability_zone": "az1"}}, version="2.76")
    assert r.status_code == 400  # the member exists from 2.77
    r = await act(lc, sid, {"unshelve": {"availability_zone": "nowhere"}}, version="2.77")
    assert r.status_code == 400 and "availability zone" in r.text
    assert (await show(lc, sid))["status"] == "SHELVED_OFFLOADED"
    r = await act(lc, sid, {"unshelve": {"availability_zone": "az1"}}, version="2.77")
    assert r.status_code == 202, r.text
    server = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert server["OS-EXT-AZ:availability_zone"] == "az1"
    assert lc.driver.guests[sid]["power_state"] == base.RUNNING


async def test_unshelve_zone_needs_an_offloaded_server_and_a_host(lc):
    lc.rt.settings.compute.shelved_offload_time = -1
    sid = (await boot(lc))["id"]
    await _zone(lc, "az1")
    assert (await act(lc, sid, {"shelve": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "SHELVED")
    r = await act(lc, sid, {"unshelve": {"availability_zone": "az1"}}, version="2.77")
    assert r.status_code == 409, r.text
    assert (await act(lc, sid, {"shelveOffload": None}, client=lc.admin)).status_code == 202
    await wait_for_status(lc.demo, sid, "SHELVED_OFFLOADED")
    zone_before = (await row(lc, sid)).availability_zone
    # a zone whose only host is disabled: no valid host, and the server keeps its old zone
    r = await lc.admin.get("/v2.1/os-services", params={"binary": "nova-compute"}, headers=mv("2.53"))
    svc_id = r.json()["services"][0]["id"]
    r = await lc.admin.put(f"/v2.1/os-services/{svc_id}", headers=mv("2.53"), json={"status": "disabled"})
    assert r.status_code == 200, r.text
    r = await act(lc, sid, {"unshelve": {"availability_zone": "az1"}}, version="2.77")
    conflict(r, "No valid host was found. There are not enough hosts available.")
    inst = await row(lc, sid)
    assert inst.availability_zone == zone_before and inst.host is None and inst.task_state is None


# -- stable device rescue ----------------------------------------------------------------------------

async def test_stable_device_rescue_keeps_the_servers_disk_in_place(lc):
    from tests.api.test_compute_agent import bootable_raw
    sid = (await boot(lc))["id"]
    rescue_image = lc.images.add(bootable_raw())
    lc.images.images[rescue_image][0].update(hw_rescue_device="disk", hw_rescue_bus="scsi")
    r = await act(lc, sid, {"rescue": {"rescue_image_ref": rescue_image}})
    assert r.status_code == 200, r.text
    await wait_for_status(lc.demo, sid, "RESCUE")
    inst_dir = lc.rt.settings.instances_dir / sid
    assert lc.driver.guests[sid]["disks"] == {"vda": str(inst_dir / "disk"), "sda": str(inst_dir / "disk.rescue")}
    assert (await act(lc, sid, {"unrescue": None})).status_code == 202
    await wait_for_status(lc.demo, sid, "ACTIVE")
    assert lc.driver.guests[sid]["disks"] == {"vda": str(inst_dir / "disk")}
    # a rescue device libvirt cannot attach fails the rescue; the server is usable again
    lc.images.images[rescue_image][0].update(hw_rescue_device="floppy")
    assert (await act(lc, sid, {"rescue": {"rescue_image_ref": rescue_image}})).status_code == 200
    await lc.rt.bus.drain()
    server = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert server["OS-EXT-STS:task_state"] is None
    assert lc.driver.guests[sid]["disks"] == {"vda": str(inst_dir / "disk")}


# -- snapshot of an image deleted meanwhile ----------------------------------------------------------

async def test_snapshot_into_an_image_deleted_meanwhile_ends_quietly(lc, monkeypatch, caplog):
    sid = (await boot(lc))["id"]
    copy = lc.driver.snapshot

    async def delete_then_copy(instance, disk, target):  # tempest's test_delete_saving_image
        for image_id, (meta, _) in list(lc.images.images.items()):
            if meta.get("instance_uuid") == sid:
                del lc.images.images[image_id]
        await copy(instance, disk, target)

    monkeypatch.setattr(lc.driver, "snapshot", delete_then_copy)
    r = await act(lc, sid, {"createImage": {"name": "gone"}}, version="2.45")
    assert r.status_code == 202, r.text
    server = await wait_for_status(lc.demo, sid, "ACTIVE")
    assert server["OS-EXT-STS:task_state"] is None and "fault" not in server
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]
    assert "was deleted during the snapshot" in caplog.text
