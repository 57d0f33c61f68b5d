"""Two image API workers of one cloud (kumo.image.workers): distributed import and delete, and a
cache per worker."""
from __future__ import annotations

import pytest

from kumo.image.api import component, remote_component
from kumo.image.workers import STAGE_HOST
from tests.api.test_image_import import finished, imports_of, stage, start_import
from tests.api.test_image_support import as_token, create, upload

ADMIN = as_token("admin-token")


@pytest.fixture
async def pair(mount, settings):
    """(worker 1 on 9292, worker 2 on 9293), sharing the database and stores."""
    return await mount(component), await mount(remote_component)


def files_under(path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


async def test_remote_worker_has_its_own_port_and_staging(pair, settings):
    one, two = pair
    assert str(two.base_url).endswith(":9293")
    img = await create(one, name="staged-on-1")
    assert (await stage(one, img["id"], b"\0" * 2048)).status_code == 204
    shown = (await two.get(f"/v2/images/{img['id']}")).json()  # the same database
    assert shown["status"] == "uploading"
    assert shown[STAGE_HOST] == "http://127.0.0.1:9292"
    assert files_under(settings.image_staging) == [img["id"]]
    assert files_under(settings.path("image-staging-remote")) == []


async def test_import_on_the_other_worker_is_forwarded(pair, settings):
    one, two = pair
    img = await create(one, name="remote-import")
    assert (await stage(one, img["id"], b"\1" * 4096)).status_code == 204
    r = await start_import(two, img["id"], "glance-direct")
    assert r.status_code == 202, r.text
    done = await finished(one, img["id"])  # worker 1 did the work: it holds the data
    assert done["status"] == "active" and done["disk_format"] == "qcow2"  # converted there
    assert STAGE_HOST not in done
    assert files_under(settings.image_staging) == []
    assert (await two.get(f"/v2/images/{img['id']}/file")).status_code == 200
    assert not imports_of(two)._running


async def test_forwarded_errors_keep_their_status(pair):
    one, two = pair
    img = await create(one, name="not-yours")
    assert (await stage(one, img["id"], b"abc")).status_code == 204
    r = await start_import(two, img["id"], "glance-direct", token="reader-token")
    assert r.status_code == 403  # checked on worker 2 before forwarding
    r = await start_import(two, img["id"], "glance-direct", token="alt-token")
    assert r.status_code == 404
    # an error answered by the staging worker keeps its status and message
    from kumo.common.auth.context import RequestContext
    from kumo.image.workers import Forwarded
    workers = imports_of(two).workers
    ctx = RequestContext(project_id=img["owner"], roles=["member"], token="demo-token")
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(Forwarded) as err:
        await workers.forward(ctx, "http://127.0.0.1:9292", "POST", f"/v2/images/{missing}/import",
                              json={"method": {"name": "glance-direct"}})
    assert err.value.status == 404 and missing in err.value.message


async def test_delete_on_the_other_worker_removes_the_staged_data(pair, settings):
    one, two = pair
    img = await create(one, name="remote-delete")
    assert (await stage(one, img["id"], b"\2" * 1024)).status_code == 204
    assert files_under(settings.image_staging) == [img["id"]]
    assert (await two.delete(f"/v2/images/{img['id']}")).status_code == 204
    assert (await one.get(f"/v2/images/{img['id']}")).status_code == 404
    assert files_under(settings.image_staging) == []


async def test_delete_when_the_staging_worker_is_gone(mount, settings, router):
    one = await mount(component)
    two = await mount(remote_component)
    img = await create(two, name="orphan")
    assert (await stage(two, img["id"], b"\3" * 10)).status_code == 204
    router.apps.pop("127.0.0.1:9293")  # worker 2 stops answering
    r = await start_import(one, img["id"], "glance-direct")
    assert r.status_code == 503
    assert (await one.get(f"/v2/images/{img['id']}")).json()["status"] == "uploading"
    assert (await one.delete(f"/v2/images/{img['id']}")).status_code == 204  # deleted here anyway
    assert (await one.get(f"/v2/images/{img['id']}")).status_code == 404
    await mount(remote_component)  # worker 2 restarts and drops the orphaned staged data
    assert files_under(settings.path("image-staging-remote")) == []


async def test_restart_of_one_worker_leaves_the_others_stage_alone(mount, settings):
    one = await mount(component)
    await mount(remote_component)
    img = await create(one, name="kept")
    assert (await stage(one, img["id"], b"\4" * 10)).status_code == 204
    await mount(remote_component)  # worker 2 restarts: worker 1's stage is not its to requeue
    assert (await one.get(f"/v2/images/{img['id']}")).json()["status"] == "uploading"
    assert files_under(settings.image_staging) == [img["id"]]


async def test_each_worker_has_its_own_cache(pair):
    one, two = pair
    img = await create(one, name="cached")
    assert (await upload(one, img["id"], b"c" * 700)).status_code == 204
    state = {c: c._transport.apps[c.base_url.netloc.decode()].app.state for c in (one, two)}
    assert (await one.put(f"/v2/cache/{img['id']}", headers=ADMIN)).status_code == 202
    await state[one].cache.drain()
    assert [c["image_id"] for c in (await one.get("/v2/cache", headers=ADMIN)).json()["cached_images"]] == [img["id"]]
    assert (await two.get("/v2/cache", headers=ADMIN)).json() == {"cached_images": [], "queued_images": []}
    assert (await two.put(f"/v2/cache/{img['id']}", headers=ADMIN)).status_code == 202
    await state[two].cache.drain()
    assert len((await two.get("/v2/cache", headers=ADMIN)).json()["cached_images"]) == 1
    assert (await two.delete("/v2/cache", headers=ADMIN)).status_code == 204
    assert (await two.get("/v2/cache", headers=ADMIN)).json() == {"cached_images": [], "queued_images": []}
    assert len((await one.get("/v2/cache", headers=ADMIN)).json()["cached_images"]) == 1  # untouched


async def test_no_remote_worker(mount, settings, rt):
    rt.settings.image.remote_port = 0
    comp = remote_component(rt)
    assert comp.app is None and comp.port is None
    one = await mount(component)
    img = await create(one, name="lone")
    assert (await stage(one, img["id"], b"x")).status_code == 204
    assert STAGE_HOST not in (await one.get(f"/v2/images/{img['id']}")).json()


async def test_cache_entries_of_images_deleted_elsewhere_go_at_restart(pair, mount, settings):
    one, two = pair
    img = await create(one, name="gone")
    assert (await upload(one, img["id"], b"g" * 100)).status_code == 204
    assert (await two.put(f"/v2/cache/{img['id']}", headers=ADMIN)).status_code == 202
    await two._transport.apps[two.base_url.netloc.decode()].app.state.cache.drain()
    assert files_under(settings.path("image-cache-remote")) != ["cache.db"]
    assert (await one.delete(f"/v2/images/{img['id']}")).status_code == 204  # worker 1 drops only its own
    two = await mount(remote_component)  # worker 2 restarts
    assert (await two.get("/v2/cache", headers=ADMIN)).json()["cached_images"] == []
    assert img["id"] not in files_under(settings.path("image-cache-remote"))
