"""Remote consoles: console URLs and the tokens behind them.

Compute API reference: "Create Console" (``POST /servers/{id}/remote-consoles``,
2.6+), "Get VNC Console (os-getVNCConsole Action)" (before 2.6) and "Show
Console Connection Information" (``GET /os-console-auth-tokens/{token}``).

A console URL carries a random token (``secrets.token_urlsafe``, 32 bytes of
entropy). The database keeps only its SHA-256 (hex) with the instance uuid,
the host and port of the guest's VNC server as the proxy reaches it, and the
expiry (``[vnc] token_ttl`` seconds, 600 by default). The noVNC proxy
(:mod:`kumo.compute.novncproxy`) calls :func:`validate` before it connects a
websocket to the guest; a token is refused once expired or once its server
is deleted. Expired rows are purged whenever a new token is made.
"""
from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from urllib.parse import urlencode

from sqlalchemy import delete, select

from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.bus import NoListener, RemoteError
from kumo.common.db import Database
from kumo.compute import objects
from kumo.compute.models import ConsoleAuthToken, Instance

#: console type -> its protocol (the pairs nova's remote-consoles schema accepts).
CONSOLE_TYPES = {"novnc": "vnc", "xvpvnc": "vnc", "spice-html5": "spice", "spice-direct": "spice",
                 "rdp-html5": "rdp", "serial": "serial", "webmks": "mks"}
#: the console types this cloud serves.
SUPPORTED = {"novnc"}


def token_hash(token: str) -> str:
    """The hex SHA-256 of ``token``: what the database stores instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def access_url(base_url: str, token: str) -> str:
    """``<base_url>?path=%3Ftoken%3D<token>``: noVNC opens its websocket on ``/?token=<token>``."""
    return f"{base_url}?{urlencode({'path': f'?token={token}'})}"


def check_type(protocol: str, console_type: str, vnc_enabled: bool) -> None:
    """400 "Invalid console type" when ``console_type`` is not of ``protocol``, 400
    "Unavailable console type" when this cloud does not serve it (VNC switched off: all)."""
    if CONSOLE_TYPES.get(console_type) != protocol:
        raise BadRequest(f"Invalid console type {console_type}")
    if console_type not in SUPPORTED or not vnc_enabled:
        raise BadRequest(f"Unavailable console type {console_type}.")


async def create_console(svc, ctx: RequestContext, uuid: str, protocol: str, console_type: str) -> str:
    """A new console URL for server ``uuid`` (``svc``: the ComputeService).

    400 for a type this cloud does not serve (:func:`check_type`); 404 unknown
    server; 409 when it is not ACTIVE on a host or its compute agent does not
    answer. The agent (``get_vnc_console``) says where the guest's VNC server is.
    """
    settings = svc.rt.settings
    check_type(protocol, console_type, settings.vnc.enabled)
    inst = await svc.get_instance(ctx, uuid)
    if not inst.host or inst.vm_state != objects.ACTIVE:
        raise Conflict(f"Instance {uuid} is not ready")
    try:
        target = await svc.rt.bus.call(f"compute.{inst.host}", "get_vnc_console",
                                       instance=objects.instance_to_dict(inst), timeout=30)
    except (NoListener, asyncio.TimeoutError):
        raise Conflict(f"Compute service of {inst.host} is unavailable at this time.") from None
    except RemoteError as e:
        if e.kind == "ConsoleTypeUnavailable":
            raise BadRequest(f"Unavailable console type {console_type}.") from None
        if e.kind == "InstanceNotFound":
            raise NotFound(f"Instance {uuid} could not be found.") from None
        raise Conflict(f"Instance {uuid} is not ready: {e.message}") from None
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    async with svc.db.session() as s:
        await s.execute(delete(ConsoleAuthToken).where(ConsoleAuthToken.expires <= now))
        s.add(ConsoleAuthToken(token_hash=token_hash(token), console_type=console_type,
                               host=target["host"], port=int(target["port"]),
                               internal_access_path=target.get("internal_access_path"),
                               instance_uuid=uuid, expires=now + settings.vnc.token_ttl))
    return access_url(settings.novncproxy_base_url, token)


async def validate(db: Database, token: str) -> dict | None:
    """The connection details of a live token: ``{"instance_uuid", "host", "port" (int),
    "internal_access_path", "console_type"}``; None when the token is unknown, expired, or
    its server is deleted."""
    if not token:
        return None
    async with db.session() as s:
        row = (await s.execute(select(ConsoleAuthToken).where(
            ConsoleAuthToken.token_hash == token_hash(token)))).scalar_one_or_none()
        if row is None or row.expires <= int(time.time()):
            return None
        alive = (await s.execute(select(Instance.uuid).where(
            Instance.uuid == row.instance_uuid, Instance.deleted.is_(False)))).first()
        if alive is None:
            return None
        return {"instance_uuid": row.instance_uuid, "host": row.host, "port": row.port,
                "internal_access_path": row.internal_access_path, "console_type": row.console_type}
