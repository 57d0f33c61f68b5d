"""Integration: a real QEMU guest's VNC server (libvirt driver) through the noVNC proxy.

One cirros domain without network (a copy of build/cirros.qcow2) is started by the libvirt driver
with ``vnc_listen`` 127.0.0.1; :meth:`LibvirtDriver.get_vnc_port` reads the port libvirt chose, QEMU
answers there with its RFB banner, and the proxy (tests/integration/test_novncproxy.py's
``Proxy``) bridges a websocket with a token for that port to it. A shut-off guest has no VNC port.
Needs root and libvirtd, like test_libvirt_boot.py; the domain is removed in ``finally``.
"""
from __future__ import annotations

import asyncio
import os
import shutil

import pytest
import websockets

from kumo.compute.virt.base import InstancePaths, VirtError
from tests.api.test_compute_agent import make_instance
from tests.integration.test_libvirt_boot import cirros, force_remove, instances_dir, libvirtd  # noqa: F401
from tests.integration.test_novncproxy import Proxy

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (libvirtd)")]


async def test_qemu_vnc_through_the_proxy(libvirtd, cirros, instances_dir, tmp_path):  # noqa: F811
    from kumo.compute.virt.libvirt.driver import LibvirtDriver

    driver = LibvirtDriver("qemu:///system", "qemu", instances_dir, vnc_listen="127.0.0.1")
    await driver.init_host("testhost")
    inst = make_instance("img")
    inst["flavor"].update(ram=128)
    inst["instance_name"] = f"kumo-vnctest-{inst['uuid'][:8]}"  # never a main cloud guest's name
    paths = InstancePaths(instances_dir, inst["uuid"])
    paths.dir.mkdir()
    shutil.copy(cirros, paths.disk)
    proxy = Proxy(tmp_path)
    await proxy.start()
    try:
        await driver.spawn(inst, [], paths, {"vda": paths.disk})
        port = await driver.get_vnc_port(inst)
        assert port >= 5900
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await asyncio.wait_for(reader.readexactly(12), 30)).startswith(b"RFB 003.00")
        writer.close()

        async with websockets.connect(proxy.ws_url(await proxy.token(port=port))) as ws:
            banner = await asyncio.wait_for(ws.recv(), 30)
        assert banner.startswith(b"RFB 003.00") and banner.endswith(b"\n")

        libvirtd.lookupByUUIDString(inst["uuid"]).destroy()  # a hard stop: the definition stays
        with pytest.raises(VirtError):
            await driver.get_vnc_port(inst)
    finally:
        await proxy.stop()
        force_remove(libvirtd, inst["uuid"])
        await driver.close()
