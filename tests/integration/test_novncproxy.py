"""Integration: the noVNC proxy (kumo/compute/novncproxy.py) served by uvicorn on a real socket,
bridging websockets to a tiny RFB server (kumo/compute/virt/fakerfb.py) after checking tokens in
the compute database. Needs the ``novnc`` package (/usr/share/novnc) for the HTML check; no root.
"""
from __future__ import annotations

import asyncio
import struct
import time
import uuid
from pathlib import Path

import pytest
import uvicorn
import websockets

from kumo import config
from kumo.compute import consoleauth, novncproxy
from kumo.compute.models import ConsoleAuthToken, Instance, open_database
from kumo.compute.virt.fakerfb import BANNER, NAME, FakeRfbServer

pytestmark = pytest.mark.integration


class Proxy:
    def __init__(self, tmp_path: Path):
        self.settings = config.load(path="/nonexistent", environ={"KUMO_STATE_DIR": str(tmp_path)})
        self.db = open_database(self.settings.database_url("compute"))
        self.rfb = FakeRfbServer()
        self.server: uvicorn.Server | None = None
        self.port = 0

    async def start(self) -> None:
        await self.db.create_schema()
        await self.rfb.start()
        app = novncproxy.build_app(self.db, self.settings)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    lifespan="off"))
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            assert not self.task.done(), "uvicorn stopped during start-up"
            await asyncio.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)
        await self.rfb.stop()
        await self.db.close()

    async def token(self, ttl: int = 600, port: int | None = None, deleted: bool = False) -> str:
        """A token for a new server whose VNC server is the fake RFB server (or ``port``)."""
        token, server = f"tok-{uuid.uuid4()}", str(uuid.uuid4())
        async with self.db.session() as s:
            s.add(Instance(uuid=server, display_name="vm", hostname="vm", project_id="p", user_id="u",
                           flavor_id="1", flavor={}, deleted=deleted))
            s.add(ConsoleAuthToken(token_hash=consoleauth.token_hash(token), console_type="novnc",
                                   host="127.0.0.1", port=port or self.rfb.port, instance_uuid=server,
                                   expires=int(time.time()) + ttl))
        return token

    def ws_url(self, token: str) -> str:
        return f"ws://127.0.0.1:{self.port}/?token={token}"


@pytest.fixture
async def proxy(tmp_path):
    p = Proxy(tmp_path)
    await p.start()
    yield p
    await p.stop()


async def test_valid_token_reaches_the_rfb_server(proxy):
    async with websockets.connect(proxy.ws_url(await proxy.token()), subprotocols=["binary"]) as ws:
        assert ws.subprotocol == "binary"
        assert await asyncio.wait_for(ws.recv(), 10) == BANNER
        await ws.send(BANNER)
        assert await ws.recv() == b"\x01\x01"
        await ws.send(b"\x01")
        assert await ws.recv() == b"\x00" * 4
        await ws.send(b"\x01")
        init = await ws.recv()
        assert init[24:] == NAME and struct.unpack(">I", init[20:24])[0] == len(NAME)


async def test_no_subprotocol_and_the_websockify_path(proxy):
    url = f"ws://127.0.0.1:{proxy.port}/websockify?token={await proxy.token()}"
    async with websockets.connect(url) as ws:  # noVNC 1.x offers no subprotocol
        assert ws.subprotocol is None
        assert await asyncio.wait_for(ws.recv(), 10) == BANNER


async def test_token_in_a_cookie(proxy):
    url = f"ws://127.0.0.1:{proxy.port}/"
    async with websockets.connect(url, additional_headers={"Cookie": f"token={await proxy.token()}"}) as ws:
        assert await asyncio.wait_for(ws.recv(), 10) == BANNER


@pytest.mark.parametrize("case", ["bad", "expired", "deleted", "missing"])
async def test_bad_tokens_are_refused_before_the_upgrade(proxy, case):
    if case == "bad":
        url = proxy.ws_url("bad" + await proxy.token())
    elif case == "expired":
        url = proxy.ws_url(await proxy.token(ttl=-1))
    elif case == "deleted":
        url = proxy.ws_url(await proxy.token(deleted=True))
    else:
        url = f"ws://127.0.0.1:{proxy.port}/"
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        async with websockets.connect(url):
            pass
    assert e.value.response.status_code == 403


async def test_origin_must_be_the_proxy_host(proxy):
    token = await proxy.token()
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(proxy.ws_url(token), origin="http://evil.example.com"):
            pass
    async with websockets.connect(proxy.ws_url(token), origin=f"http://127.0.0.1:{proxy.port}") as ws:
        assert await asyncio.wait_for(ws.recv(), 10) == BANNER


async def test_unreachable_vnc_server_closes_the_websocket(proxy):
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    dead_port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with websockets.connect(proxy.ws_url(await proxy.token(port=dead_port))) as ws:
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)


async def test_tempest_novnc_client(proxy):
    """Tempest's own websocket client and RFB checks (tempest.common.compute) pass, and its
    bad-token probe reads nothing."""
    from tempest.common import compute

    url = f"http://127.0.0.1:{proxy.port}/vnc_lite.html?path=%3Ftoken%3D{await proxy.token()}"

    def talk(url: str):
        ws = compute.create_websocket(url)
        try:
            return ws.response, ws.receive_frame()
        finally:
            ws.close()
    response, first = await asyncio.to_thread(talk, url)
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols") and first == BANNER
    _, first = await asyncio.to_thread(talk, url.replace("token%3D", "token%3Dbad"))
    assert not first


async def test_serves_the_novnc_client(proxy):
    assert Path(proxy.settings.vnc.novnc_dir, "vnc_lite.html").is_file(), "install the novnc package"
    import httpx
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as http:
        r = await http.get("/vnc_lite.html", params={"path": "?token=x"})
        assert r.status_code == 200 and "noVNC" in r.text and "<script" in r.text and "</html>" in r.text
        assert (await http.get("/core/rfb.js")).status_code == 200
        assert (await http.get("/../../etc/passwd")).status_code == 404
