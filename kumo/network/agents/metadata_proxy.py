"""The isolated-network metadata proxy: 169.254.169.254:80 inside a qdhcp namespace.

Neutron's model (DHCP agent ``enable_isolated_metadata`` + metadata agent) in
one piece and without a separate process: the listening socket is created
inside the namespace (:func:`kumo.common.host.net.run_in_netns`) and served by
the agent's event loop.

For each guest request: the source address -> the port holding it on that
network (``GET /v2.0/ports?network_id=N&fixed_ips=ip_address=IP``) -> the
request is forwarded to the metadata API (``settings.endpoint("metadata")``)
with ``X-Instance-ID`` (the port's device_id), ``X-Tenant-ID`` (its project),
``X-Forwarded-For`` (the guest address), ``X-Neutron-Network-ID`` and
``X-Instance-ID-Signature`` (:func:`kumo.common.auth.metadata_sign.sign`). The
answer goes back to the guest as is. Unknown source: 404; metadata API down or
request unreadable: 500/400; body over 1 MiB: 413.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from http import HTTPStatus
from urllib.parse import urlsplit

import httpx

from kumo.common.auth.metadata_sign import sign
from kumo.common.host.net import run_in_netns

log = logging.getLogger(__name__)

METADATA_IP = "169.254.169.254"
METADATA_PORT = 80
MAX_BODY = 1 << 20
PASS_HEADERS = ("content-type", "accept", "user-agent")


def listen_socket(host: str = METADATA_IP, port: int = METADATA_PORT) -> socket.socket:
    """A non-blocking TCP socket listening on ``host:port`` (in the caller's namespace)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class MetadataProxy:
    """The proxy of one network. ``api(method, path, **kw)`` calls the network API
    (returns an httpx.Response); ``http`` reaches the metadata API at ``metadata_url``."""

    def __init__(self, network_id: str, netns: str, *, api, http: httpx.AsyncClient,
                 metadata_url: str, secret: str):
        self.network_id = network_id
        self.netns = netns
        self.api = api
        self.http = http
        self.metadata_url = metadata_url.rstrip("/")
        self.secret = secret
        self.server: asyncio.AbstractServer | None = None

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.is_serving()

    async def start(self) -> None:
        """Listen in the namespace (OSError if the address is missing or taken)."""
        if self.running:
            return
        sock = await run_in_netns(self.netns, listen_socket)
        self.server = await asyncio.start_server(self._handle, sock=sock)

    async def stop(self) -> None:
        """Stop listening (the socket no longer pins the namespace)."""
        if self.server is not None:
            self.server.close()
            try:
                await asyncio.wait_for(self.server.wait_closed(), 5)
            except asyncio.TimeoutError:
                pass
            self.server = None

    async def _lookup(self, ip: str) -> dict | None:
        r = await self.api("GET", "/v2.0/ports", params={
            "network_id": self.network_id, "fixed_ips": f"ip_address={ip}"})
        if r.status_code != 200:
            raise RuntimeError(f"port lookup failed: {r.status_code}")
        ports = r.json().get("ports", [])
        return ports[0] if ports else None

    async def forward(self, method: str, target: str, headers: dict[str, str], body: bytes,
                      peer: str) -> tuple[int, str, bytes]:
        """Answer one guest request from ``peer``: (status, content type, body)."""
        port = await self._lookup(peer)
        if port is None or not port.get("device_id"):
            return 404, "text/plain; charset=UTF-8", b"404 Not Found\n\nThe resource could not be found.\n"
        instance_id = port["device_id"]
        out = {k: v for k, v in headers.items() if k in PASS_HEADERS}
        out.update({
            "X-Forwarded-For": peer,
            "X-Instance-ID": instance_id,
            "X-Tenant-ID": port.get("project_id") or port.get("tenant_id") or "",
            "X-Neutron-Network-ID": self.network_id,
            "X-Instance-ID-Signature": sign(self.secret, instance_id),
        })
        r = await self.http.request(method, self.metadata_url + target, headers=out, content=body)
        return r.status_code, r.headers.get("content-type", "text/plain"), r.content

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (writer.get_extra_info("peername") or ("",))[0]
        try:
            status, ctype, payload = await self._serve_one(reader, peer)
        except Exception:  # the guest gets a 500, the agent a log line
            log.exception("metadata proxy (network %s) failed for %s", self.network_id, peer)
            status, ctype, payload = 500, "text/plain", b"500 Internal Server Error\n"
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
        try:
            writer.write(head.encode("latin-1") + payload)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, peer: str) -> tuple[int, str, bytes]:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
            return 400, "text/plain", b"400 Bad Request\n"
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, "text/plain", b"400 Bad Request\n"
        method, target = parts[0].upper(), parts[1]
        if target.startswith(("http://", "https://")):
            split = urlsplit(target)
            target = split.path + (f"?{split.query}" if split.query else "")
        if not target.startswith("/"):
            return 400, "text/plain", b"400 Bad Request\n"
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            return 400, "text/plain", b"400 Bad Request\n"
        if length > MAX_BODY or length < 0:
            return 413, "text/plain", b"413 Request Entity Too Large\n"
        body = await reader.readexactly(length) if length else b""
        try:
            return await self.forward(method, target, headers, body, peer)
        except httpx.HTTPError as e:
            log.warning("metadata API unreachable: %s", e)
            return 500, "text/plain", b"500 Internal Server Error\n"
