"""VNC consoles on the drivers: the fake RFB server, the fake driver's port, the libvirt
domain's ``<graphics>`` (listen address in, port out) and console URL helpers."""
from __future__ import annotations

import asyncio
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kumo.compute import consoleauth
from kumo.compute.virt import base, fakerfb
from kumo.compute.virt.fake import FakeDriver
from kumo.compute.virt.libvirt import config
from tests.unit.test_virt_config import instance


async def handshake(port: int, version: bytes = b"RFB 003.008\n") -> tuple[bytes, bytes, bytes, bytes]:
    """(banner, security, result, server init) from an RFB server on 127.0.0.1:port."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        banner = await reader.readexactly(12)
        writer.write(version)
        if version.startswith(b"RFB 003.003"):
            security, result = await reader.readexactly(4), b""
        else:
            security = await reader.readexactly(2)
            writer.write(b"\x01")
            result = await reader.readexactly(4)
        writer.write(b"\x01")
        head = await reader.readexactly(24)
        init = head + await reader.readexactly(struct.unpack(">I", head[20:24])[0])
        return banner, security, result, init
    finally:
        writer.close()


async def test_fake_rfb_server_speaks_the_handshake():
    server = fakerfb.FakeRfbServer()
    port = await server.start()
    try:
        assert await server.start() == port  # started once
        banner, security, result, init = await handshake(port)
        assert banner == b"RFB 003.008\n" and security == b"\x01\x01" and result == b"\x00" * 4
        assert struct.unpack(">HH", init[:4]) == (640, 480) and init[24:] == fakerfb.NAME
        # a 3.3 client is told the security type (None) in one word, no result
        _, security, result, _ = await handshake(port, b"RFB 003.003\n")
        assert security == struct.pack(">I", 1) and result == b""
    finally:
        await server.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_fake_driver_vnc_port_needs_a_running_guest(tmp_path):
    driver = FakeDriver()
    inst = instance()
    with pytest.raises(base.InstanceNotFound):
        await driver.get_vnc_port(inst)
    await driver.spawn(inst, [], base.InstancePaths(tmp_path, inst["uuid"]), {})
    try:
        port = await driver.get_vnc_port(inst)
        assert (await handshake(port))[0] == fakerfb.BANNER
        await driver.power_off(inst)
        with pytest.raises(base.VirtError):
            await driver.get_vnc_port(inst)
    finally:
        await driver.close()


def test_domain_vnc_listens_where_told():
    xml = ET.fromstring(config.domain_xml(instance(), [], {"vda": Path("/i/disk")}, Path("/i/c.log"),
                                          vnc_listen="192.0.2.7"))
    graphics = xml.find("./devices/graphics")
    assert (graphics.get("type"), graphics.get("autoport"), graphics.get("listen")) == ("vnc", "yes", "192.0.2.7")
    assert graphics.find("listen").get("address") == "192.0.2.7"


class _Dom:
    def __init__(self, state: int, graphics: str):
        self._state, self._graphics = state, graphics

    def state(self):
        return self._state, 0

    def XMLDesc(self, flags):
        return f"<domain><devices><serial type='pty'/>{self._graphics}</devices></domain>"


@pytest.mark.parametrize("state, graphics, expect", [
    (1, "<graphics type='vnc' port='5903' autoport='yes' listen='127.0.0.1'/>", 5903),
    (5, "<graphics type='vnc' port='-1' autoport='yes'/>", base.VirtError),  # shut off
    (1, "<graphics type='spice' port='5903'/>", base.ConsoleTypeUnavailable),
    (1, "<graphics type='vnc' port='-1' autoport='yes'/>", base.VirtError),
])
async def test_libvirt_vnc_port_from_the_live_xml(tmp_path, state, graphics, expect):
    pytest.importorskip("libvirt")
    from kumo.compute.virt.libvirt.driver import LibvirtDriver

    driver = LibvirtDriver("test:///default", "qemu", tmp_path, vnc_listen="127.0.0.1")

    async def domain(_instance):
        return _Dom(state, graphics)
    driver._domain = domain
    if isinstance(expect, int):
        assert await driver.get_vnc_port(instance()) == expect
    else:
        with pytest.raises(expect):
            await driver.get_vnc_port(instance())


def test_console_url_and_types():
    url = consoleauth.access_url("http://h:6080/vnc_lite.html", "a-b_c")
    assert url == "http://h:6080/vnc_lite.html?path=%3Ftoken%3Da-b_c"
    consoleauth.check_type("vnc", "novnc", True)
    for protocol, console_type, enabled in (("vnc", "novnc", False), ("spice", "spice-html5", True),
                                            ("vnc", "serial", True)):
        with pytest.raises(Exception) as e:
            consoleauth.check_type(protocol, console_type, enabled)
        assert e.value.status == 400
    assert consoleauth.token_hash("x") != consoleauth.token_hash("y") and len(consoleauth.token_hash("x")) == 64
