"""A tiny RFB (VNC) server for the fake driver and the console proxy's tests.

It speaks the handshake of RFC 6143 and nothing more: ProtocolVersion
(``RFB 003.008``; a 3.3 client gets the 3.3 security word), the "None"
security type, SecurityResult OK, then ServerInit for a 640x480 true-colour
desktop named :data:`NAME`. Whatever the client sends afterwards is read and
dropped until it hangs up. Each message is written on its own, as a real
server answers step by step.
"""
from __future__ import annotations

import asyncio
import contextlib
import struct

BANNER = b"RFB 003.008\n"
NAME = b"kumo fake console"
#: 32 bpp, depth 24, little endian, true colour, max 255 each, shifts 16/8/0, 3 bytes padding.
_PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)


def server_init(width: int = 640, height: int = 480, name: bytes = NAME) -> bytes:
    """The ServerInit message: size, pixel format, name length and name."""
    return struct.pack(">HH", width, height) + _PIXEL_FORMAT + struct.pack(">I", len(name)) + name


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(BANNER)
        await writer.drain()
        client_version = await reader.readexactly(12)
        if client_version.startswith(b"RFB 003.003"):
            writer.write(struct.pack(">I", 1))  # 3.3: the server names the type, no result follows
            await writer.drain()
        else:
            writer.write(b"\x01\x01")  # one security type: None
            await writer.drain()
            if await reader.readexactly(1) != b"\x01":
                return
            writer.write(struct.pack(">I", 0))
            await writer.drain()
        await reader.readexactly(1)  # ClientInit (shared flag)
        writer.write(server_init())
        await writer.drain()
        while await reader.read(4096):
            pass
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class FakeRfbServer:
    """``await start()`` listens on ``host`` (an ephemeral port, :attr:`port`); ``await stop()``."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        if self._server is None:
            self._server = await asyncio.start_server(_session, self.host, 0)
            self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
