"""Integration: server lifecycle actions on one real TCG guest (libvirt driver).

The compute agent (``[compute] driver = libvirt``) runs against in-process fakes of the
conductor, network API and a writable image API (tests/api/test_compute_lifecycle.py). One
cirros guest is booted and then: paused and unpaused (libvirt state paused / running),
suspended and resumed (a managed save image, then running again), snapshotted (the uploaded
image is a standalone qcow2), rebuilt from that snapshot (the snapshot boots: the console shows
the kernel again), resized to a flavor with more RAM and a 2 GiB disk (domain memory and qcow2
virtual size grow) and confirmed, then terminated. Needs root and libvirtd, like
test_libvirt_boot.py; everything is removed in ``finally``.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid as uuidlib

import pytest

from kumo.compute import agent as compute_agent
from tests.api.test_compute_agent import FakeConductor, FakeNetworkAPI, make_instance
from tests.api.test_compute_lifecycle import WritableImageAPI
from tests.integration.test_libvirt_boot import (BOOT_MARKERS, BRIDGE, bridge, cirros, domain_of,  # noqa: F401
                                                 force_remove, instances_dir, libvirtd)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (libvirtd, bridges, taps)")]

GiB = 1024 ** 3


async def until(predicate, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def qemu_info(path) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "-U", "--output", "json", str(path)],
                                     check=True, capture_output=True, text=True).stdout)


async def test_pause_suspend_snapshot_rebuild_resize(libvirtd, cirros, instances_dir, bridge,  # noqa: F811
                                                     rt, router, mount, tmp_path):
    import libvirt
    settings = rt.settings
    settings.compute.driver = "libvirt"
    settings.compute.instances_dir = str(instances_dir)
    conductor, network, images = FakeConductor(), FakeNetworkAPI(), WritableImageAPI()
    network.vif_details = {"bridge_name": BRIDGE}
    router.add(settings.endpoint("network"), network.app)
    router.add(settings.endpoint("image"), images.app)
    await rt.bus.serve("conductor", conductor)
    image_id = images.add(cirros.read_bytes(), disk_format="qcow2")
    inst = make_instance(image_id)
    inst["flavor"].update(ram=256, disk=1)
    uuid = inst["uuid"]
    topic = f"compute.{settings.common.host}"

    async def cast(method, task_state, **kwargs):
        conductor.rows[uuid]["task_state"] = task_state
        await rt.bus.cast(topic, method, instance=dict(conductor.rows[uuid]), **kwargs)
        await rt.bus.drain()
        row = conductor.rows[uuid]
        assert row["task_state"] is None and conductor.faults == {}, (row, conductor.faults)
        return row

    async def booted() -> bool:
        out = await rt.bus.call(topic, "get_console_output", instance=conductor.rows[uuid], length=None)
        return any(marker in out for marker in BOOT_MARKERS)

    try:
        await mount(compute_agent.component)
        conductor.rows[uuid] = dict(inst)
        await rt.bus.cast(topic, "build_instance", instance=inst)
        await rt.bus.drain()
        assert conductor.rows[uuid]["vm_state"] == "active", conductor.faults
        dom = domain_of(libvirtd, uuid)

        row = await cast("pause_instance", "pausing")
        assert row["vm_state"] == "paused" and dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
        row = await cast("unpause_instance", "unpausing")
        assert row["vm_state"] == "active" and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING

        row = await cast("suspend_instance", "suspending")
        assert row["vm_state"] == "suspended" and not dom.isActive() and dom.hasManagedSaveImage(0)
        row = await cast("resume_instance", "resuming")
        assert row["vm_state"] == "active" and dom.isActive() and not dom.hasManagedSaveImage(0)

        snap_id = str(uuidlib.uuid4())
        images.images[snap_id] = ({"id": snap_id, "name": "snap", "status": "queued", "disk_format": "qcow2",
                                   "container_format": "bare", "created_at": "0"}, b"")
        await cast("snapshot_instance", "image_snapshot", image_id=snap_id)
        meta, data = images.images[snap_id]
        assert meta["status"] == "active" and data[:4] == b"QFI\xfb"
        snap_file = tmp_path / "snap.qcow2"
        snap_file.write_bytes(data)
        assert "backing-filename" not in qemu_info(snap_file)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING  # resumed after the copy

        # the snapshot boots: rebuild the guest from it and watch the console
        conductor.rows[uuid]["image_ref"] = snap_id
        row = await cast("rebuild_instance", "rebuilding")
        assert row["vm_state"] == "active"
        dom = domain_of(libvirtd, uuid)
        assert dom.isActive()
        await until(booted, what="the rebuilt guest's boot lines")

        new = dict(inst["flavor"], id="2", name="bigger", ram=320, disk=2)
        conductor.rows[uuid]["system_metadata"] = {"old_flavor": inst["flavor"], "new_flavor": new,
                                                   "old_vm_state": "active"}
        row = await cast("resize_instance", "resize_prep")
        assert row["vm_state"] == "resized" and row["flavor"]["ram"] == 320
        dom = domain_of(libvirtd, uuid)
        assert dom.isActive() and dom.maxMemory() == 320 * 1024
        assert qemu_info(instances_dir / uuid / "disk")["virtual-size"] == 2 * GiB
        row = await cast("confirm_resize", "resize_confirming")
        assert row["vm_state"] == "active"
        assert not (instances_dir / uuid / "disk.resize-orig").exists()

        await rt.bus.cast(topic, "terminate_instance", instance=dict(conductor.rows[uuid]))
        await rt.bus.drain()
        assert domain_of(libvirtd, uuid) is None
    finally:
        force_remove(libvirtd, uuid)
