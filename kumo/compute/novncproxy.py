"""The noVNC proxy (``kumo serve novncproxy``, port ``[vnc] port`` 6080): nova's nova-novncproxy.

HTTP ``GET /<file>`` serves the noVNC web client from ``[vnc] novnc_dir``
(``/usr/share/novnc``, Debian package ``novnc``): console URLs point at
``vnc_lite.html?path=%3Ftoken%3D<token>``, whose script opens a websocket on
``/?token=<token>`` of the same host and port.

A websocket on ``/`` (or ``/websockify``) is bridged to a guest's VNC server:

- the token comes from the query (``?token=``) or, for noVNC before 1.1, a
  ``token`` cookie; :func:`kumo.compute.consoleauth.validate` turns it into the
  host and port the compute agent reported;
- an unknown, expired or deleted server's token, or an ``Origin`` whose host
  is neither the request's ``Host`` nor the console URLs' host, is refused
  before the upgrade (HTTP 403, nothing sent); a VNC server that does not
  answer closes the websocket at once;
- then bytes flow both ways unchanged (one binary message per read from the
  VNC server) until either side hangs up. The ``binary`` subprotocol is
  accepted when the client offers it (websockify's clients do).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from kumo.common.runtime import Component, Runtime
from kumo.compute import consoleauth
from kumo.compute.models import open_database

log = logging.getLogger(__name__)

#: Seconds to wait for the guest's VNC server to accept the connection.
CONNECT_TIMEOUT = 10
#: Largest read from the VNC server sent as one websocket message.
CHUNK = 64 * 1024


def _token(ws: WebSocket) -> str:
    token = ws.query_params.get("token")
    if token:
        return token
    cookie = SimpleCookie()
    with contextlib.suppress(Exception):
        cookie.load(ws.headers.get("cookie", ""))
    return cookie["token"].value if "token" in cookie else ""


def _origin_ok(ws: WebSocket, base_url: str) -> bool:
    """No Origin (not a browser), or one whose host is the request's or the console URLs'."""
    origin = ws.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = urlsplit(origin).hostname
    expected = {urlsplit(base_url).hostname, urlsplit(f"//{ws.headers.get('host', '')}").hostname}
    return host is not None and host in expected


async def _pump(ws: WebSocket, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async def to_guest() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            writer.write(data)
            await writer.drain()

    async def to_client() -> None:
        while data := await reader.read(CHUNK):
            await ws.send_bytes(data)

    tasks = [asyncio.create_task(to_guest()), asyncio.create_task(to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def build_app(db, settings) -> Starlette:
    """The proxy's ASGI app over the compute database ``db``."""
    base_url = settings.novncproxy_base_url

    async def websocket(ws: WebSocket) -> None:
        if not _origin_ok(ws, base_url):
            log.info("console connection refused: origin %s", ws.headers.get("origin"))
            await ws.close(code=1008)
            return
        target = await consoleauth.validate(db, _token(ws))
        if target is None:
            log.info("console connection refused: invalid or expired token")
            await ws.close(code=1008)
            return
        subprotocol = "binary" if "binary" in ws.scope.get("subprotocols", []) else None
        await ws.accept(subprotocol=subprotocol)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(target["host"], target["port"]), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            log.warning("console of %s: %s:%s unreachable: %s", target["instance_uuid"], target["host"],
                        target["port"], e)
            await ws.close(code=1011)
            return
        log.info("console of %s: connected to %s:%s", target["instance_uuid"], target["host"], target["port"])
        try:
            await _pump(ws, reader, writer)
        except (WebSocketDisconnect, ConnectionError, RuntimeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            with contextlib.suppress(Exception):
                await ws.close()

    routes = [WebSocketRoute("/", websocket), WebSocketRoute("/websockify", websocket)]
    if Path(settings.vnc.novnc_dir).is_dir():
        routes.append(Mount("/", StaticFiles(directory=settings.vnc.novnc_dir)))
    else:
        log.warning("no noVNC client in %s (install the novnc package)", settings.vnc.novnc_dir)
    return Starlette(routes=routes)


def component(rt: Runtime) -> Component:
    """The proxy on ``[vnc] port`` (0: not served) over the compute database."""
    settings = rt.settings
    db = open_database(settings.database_url("compute"))

    async def start() -> None:
        await db.create_schema()

    async def stop() -> None:
        await db.close()

    return Component(name="novncproxy", app=build_app(db, settings), port=settings.vnc.port,
                     starters=[start], stoppers=[stop])
