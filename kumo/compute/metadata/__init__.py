"""The metadata API component (``kumo serve metadata-api``, port ``settings.metadata.port`` 8775).

Instances reach it through the network side's metadata proxy, which adds
``X-Instance-ID``, ``X-Tenant-ID``, ``X-Forwarded-For`` and
``X-Instance-ID-Signature`` (hex HMAC-SHA256 of the instance id with
``settings.metadata.shared_secret``). No Keystone token: the signature is the
authentication. Answers (plain-text errors, as nova's webob ones):

- 400 when ``X-Instance-ID`` or ``X-Tenant-ID`` is missing;
- 403 when the signature is missing or wrong;
- 404 for an unknown or deleted instance, one of another project, or an
  unknown path / version / absent user data.

``GET`` paths: see :mod:`kumo.compute.metadata.content` for the layouts.
``POST /openstack/<version>/password`` (the guest's encrypted password, at
most :data:`PASSWORD_MAX` bytes): 200 when stored, 409 when one is already
set (``DELETE /servers/{id}/os-server-password`` clears it), 400 too large.
"""
from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kumo.common.api import create_app
from kumo.common.api.errors import BadRequest, Conflict, Forbidden, NotFound
from kumo.common.auth import metadata_sign
from kumo.common.runtime import Component, Runtime
from kumo.compute import server_extras
from kumo.compute.metadata import content
from kumo.compute.models import Instance, open_database


async def _instance(request: Request) -> Instance:
    """The calling instance, authenticated by the proxy's signature."""
    instance_id = request.headers.get("x-instance-id")
    if not instance_id:
        raise BadRequest("X-Instance-ID header is missing from request.")
    tenant_id = request.headers.get("x-tenant-id")
    if not tenant_id:
        raise BadRequest("X-Tenant-ID header is missing from request.")
    secret = request.app.state.settings.metadata.shared_secret
    signature = request.headers.get("x-instance-id-signature", "")
    if not metadata_sign.verify(secret, instance_id, signature):
        raise Forbidden("Invalid proxy request signature.")
    async with request.app.state.db.session() as s:
        inst = (await s.execute(select(Instance).where(
            Instance.uuid == instance_id, Instance.deleted.is_(False)))).scalar_one_or_none()
    if inst is None or inst.project_id != tenant_id:
        raise NotFound("The resource could not be found.")
    return inst


def _text(value: str) -> Response:
    return PlainTextResponse(value)


def _openstack(inst: Instance, parts: list[str]) -> Response:
    if not parts:
        return _text("\n".join(content.OPENSTACK_VERSIONS + ["latest"]))
    version = parts[0]
    if version != "latest" and version not in content.OPENSTACK_VERSIONS:
        raise NotFound("The resource could not be found.")
    files = content.openstack_files(inst, version)
    if len(parts) == 1:
        return _text("\n".join(files))
    name = "/".join(parts[1:])
    if name not in files:
        raise NotFound("The resource could not be found.")
    if name == "meta_data.json":
        return JSONResponse(content.meta_data(inst, version))
    if name == "network_data.json":
        return JSONResponse(content.network_data(inst.network_info))
    if name in ("vendor_data.json", "vendor_data2.json"):
        return JSONResponse({})
    if name == "password":
        return _text(inst.password or "")
    return Response(content.user_data(inst), media_type="application/octet-stream")


def _ec2(inst: Instance, parts: list[str]) -> Response:
    if not parts:
        return _text("\n".join(content.EC2_VERSIONS + ["latest"]))
    if parts[0] != "latest" and parts[0] not in content.EC2_VERSIONS:
        raise NotFound("The resource could not be found.")
    if len(parts) == 1:
        return _text("meta-data/\nuser-data" if inst.user_data else "meta-data/")
    if parts[1] == "user-data" and len(parts) == 2:
        data = content.user_data(inst)
        if data is None:
            raise NotFound("The resource could not be found.")
        return Response(data, media_type="application/octet-stream")
    if parts[1] == "meta-data":
        text = content.ec2_lookup(inst, parts[2:])
        if text is not None:
            return _text(text)
    raise NotFound("The resource could not be found.")


async def metadata(request: Request) -> Response:
    """Every GET: authenticate the instance, then serve the path."""
    inst = await _instance(request)
    parts = [p for p in request.url.path.split("/") if p]
    if parts and parts[0] == "openstack":
        return _openstack(inst, parts[1:])
    return _ec2(inst, parts)


#: Largest password a guest may post (nova keeps four chunks of 255 characters).
PASSWORD_MAX = 4 * 255


async def post_password(request: Request) -> Response:
    """POST /openstack/<version>/password: store the guest's password once."""
    inst = await _instance(request)
    parts = [p for p in request.url.path.split("/") if p]
    if len(parts) != 3 or parts[0] != "openstack" or parts[2] != "password" or (
            parts[1] != "latest" and parts[1] not in content.OPENSTACK_VERSIONS):
        raise NotFound("The resource could not be found.")
    body = await request.body()
    if len(body) > PASSWORD_MAX:
        raise BadRequest("Request is too large.")
    if not await server_extras.store_password(request.app.state.db, inst.uuid, body.decode("utf-8", "replace")):
        raise Conflict("Password already set.")
    return _text("")


def component(rt: Runtime) -> Component:
    """The metadata API over the compute database (read only but for the guest's password)."""
    settings = rt.settings
    db = open_database(settings.database_url("compute"))
    app = create_app(style="glance", validator=None, public=lambda method, path: True,
                     routes=[Route("/", metadata, methods=["GET"]),
                             Route("/{path:path}", metadata, methods=["GET"]),
                             Route("/{path:path}", post_password, methods=["POST"])],
                     state={"db": db, "settings": settings})

    async def start() -> None:
        await db.create_schema()

    async def stop() -> None:
        await db.close()

    return Component(name="metadata-api", app=app, port=settings.metadata.port,
                     starters=[start], stoppers=[stop])

