"""Server lifecycle actions (Compute API reference "Servers - run an action": Pause/Unpause,
Suspend/Resume, Rescue/Unrescue, Rebuild, Resize/Confirm/Revert, Create Image, Create Server
Back Up, Shelve/Shelve-Offload/Unshelve, Restore/Force-Delete soft-deleted server).

:data:`ACTIONS` maps the body's action name to a handler ``(request, args) -> Response``;
``servers.server_action`` dispatches to it. State rules and the work are in
:mod:`kumo.compute.lifecycle` (409 wrong state) and :mod:`kumo.compute.agent.lifecycle`.
"""
from __future__ import annotations

from starlette.requests import Request

from kumo.common.api.errors import BadRequest
from kumo.compute.api.common import at_least, authorized_server, ok, policy, server_target
from kumo.compute import server_extras
from kumo.compute.api.views import server_detail
from kumo.compute.server_groups import groups_of
from kumo.compute.schemas import (bool_value, check_extra, disk_config_value, invalid, ip_value,
                                  is_uuid, metadata_value, name_value, personality_value, ref_id,
                                  user_data_value)
from kumo.compute.service import default_admin_pass


def _svc(request: Request):
    return request.app.state.compute


def _object(name: str, args, nullable: bool = False) -> dict:
    """The action's argument object (``null`` allowed with ``nullable``); 400 otherwise."""
    if args is None and nullable:
        return {}
    if not isinstance(args, dict):
        raise invalid(name, args, f"{args!r} is not of type 'object'")
    return args


def _password(args: dict) -> str:
    value = args.get("adminPass")
    if value is None:
        return default_admin_pass()
    if not isinstance(value, str):
        raise invalid("adminPass", value, f"{value!r} is not of type 'string'")
    return value


def _simple(action: str, rule: str):
    """A handler for an action without arguments: 202, no body."""
    async def handler(request: Request, args) -> object:
        ctx, inst = await authorized_server(request, rule)
        await _svc(request).lifecycle_action(ctx, inst.uuid, action)
        return ok(status=202)
    handler.__doc__ = f"``{{\"{action}\": null}}`` -> 202; 403, 404, 409 wrong state."
    return handler


async def rescue(request: Request, args):
    """``{"rescue": {"adminPass"?, "rescue_image_ref"?} | null}`` -> 200 {"adminPass"}; the
    server's own image when no rescue image is given; 400 unknown image, 409 wrong state."""
    args = _object("rescue", args, nullable=True)
    check_extra(args, {"adminPass", "rescue_image_ref"})
    password = _password(args)
    image_id = args.get("rescue_image_ref")
    if image_id is not None and not is_uuid(image_id):
        raise invalid("rescue_image_ref", image_id, f"{image_id!r} is not a 'uuid'")
    ctx, inst = await authorized_server(request, "os_compute_api:os-rescue")
    svc = _svc(request)
    image_id = image_id or inst.image_ref
    await svc.image(ctx, image_id)
    await svc.lifecycle_action(ctx, inst.uuid, "rescue", rescue_image_ref=image_id)
    return ok({"adminPass": password})


async def rebuild(request: Request, args):
    """``{"rebuild": {"imageRef", "name"?, "adminPass"?, "metadata"?, "preserve_ephemeral"?,
    "accessIPv4"?, "accessIPv6"?, "OS-DCF:diskConfig"?, "personality"? (< 2.57), "description"?
    (2.19), "key_name"? (2.54), "user_data"? (2.57)}}``
    -> 202 {"server": full server + "adminPass"}; the server keeps its ports and IPs.
    400 bad body, unknown image or key; 409 wrong state."""
    args = _object("rebuild", args)
    allowed = {"imageRef", "name", "adminPass", "metadata", "personality", "preserve_ephemeral",
               "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    for key, minor in (("description", 19), ("key_name", 54), ("user_data", 57),
                       ("trusted_image_certificates", 63)):
        if at_least(request, 2, minor):
            allowed.add(key)
    if at_least(request, 2, 57):
        allowed.discard("personality")
    check_extra(args, allowed)
    image = args.get("imageRef")
    if not isinstance(image, str) or not image:
        raise invalid("imageRef", image, "'imageRef' is a required property")
    values: dict = {}
    if "name" in args:
        values["display_name"] = name_value(args, "name")
    if "metadata" in args:
        values["meta"] = metadata_value(args["metadata"])
    for key, attr, family in (("accessIPv4", "access_ip_v4", 4), ("accessIPv6", "access_ip_v6", 6)):
        if key in args:
            values[attr] = ip_value(args, key, family)
    if "description" in args:
        desc = args["description"]
        if desc is not None and (not isinstance(desc, str) or len(desc) > 255):
            raise invalid("description", desc, "must be a string of at most 255 characters or null")
        values["display_description"] = desc
    if "user_data" in args:
        values["user_data"] = None if args["user_data"] is None else user_data_value(args["user_data"])
    if args.get("trusted_image_certificates"):
        raise BadRequest("Image certificate validation is not supported by this cloud.")
    if "personality" in args:
        values["injected_files"] = personality_value(args["personality"]) or None
    if (auto := disk_config_value(args)) is not None:
        values["auto_disk_config"] = auto
    preserve = bool(bool_value(args, "preserve_ephemeral", False))
    password = _password(args)
    ctx, inst = await authorized_server(request, "os_compute_api:servers:rebuild")
    key_name = args["key_name"] if "key_name" in args else ...
    inst = await _svc(request).rebuild(ctx, inst.uuid, ref_id(image), values, key_name, preserve)
    admin = policy(request).check(ctx, "os_compute_api:os-extended-server-attributes", server_target(inst))
    async with request.app.state.db.session() as s:  # server_groups from 2.71
        groups = (await groups_of(s, [inst.uuid]))[inst.uuid]
    body = server_detail(request, inst, is_admin=admin, extended=at_least(request, 2, 75),
                         show_groups=True, groups=groups)
    body["adminPass"] = password
    return ok({"server": body}, 202)


async def resize(request: Request, args):
    """``{"resize": {"flavorRef", "OS-DCF:diskConfig"?}}`` -> 202 (on the same host; the server
    goes VERIFY_RESIZE); 400 unknown or same flavor, smaller disk; 409 wrong state."""
    args = _object("resize", args)
    check_extra(args, {"flavorRef", "OS-DCF:diskConfig"})
    flavor = args.get("flavorRef")
    if isinstance(flavor, int) and not isinstance(flavor, bool):
        flavor = str(flavor)
    if not isinstance(flavor, str) or not flavor:
        raise invalid("flavorRef", flavor, "'flavorRef' is a required property")
    auto = disk_config_value(args)
    ctx, inst = await authorized_server(request, "os_compute_api:servers:resize")
    await _svc(request).resize(ctx, inst.uuid, ref_id(flavor), auto_disk_config=auto)
    return ok(status=202)


async def confirm_resize(request: Request, args):
    """``{"confirmResize": null}`` -> 204; 409 not VERIFY_RESIZE."""
    ctx, inst = await authorized_server(request, "os_compute_api:servers:confirm_resize")
    await _svc(request).lifecycle_action(ctx, inst.uuid, "confirmResize")
    return ok(status=204)


def _image_response(request: Request, image_id: str):
    """202 with ``{"image_id"}`` from 2.45, before that no body and the image's Location."""
    if at_least(request, 2, 45):
        return ok({"image_id": image_id}, 202)
    response = ok(status=202)
    response.headers["Location"] = f"{str(request.base_url).rstrip('/')}/v2.1/images/{image_id}"
    return response


async def create_image(request: Request, args):
    """``{"createImage": {"name", "metadata"?}}`` -> 202 (2.45+: {"image_id"}); a snapshot of the
    root disk as a private qcow2 image (image_type snapshot, instance_uuid, base_image_ref);
    400 bad body, 403 image quota, 409 wrong state."""
    args = _object("createImage", args)
    check_extra(args, {"name", "metadata"})
    name = name_value(args, "name")
    meta = metadata_value(args.get("metadata") or {})
    ctx, inst = await authorized_server(request, "os_compute_api:servers:create_image")
    image_id = await _svc(request).snapshot_action(ctx, inst.uuid, "createImage", name,
                                                   {"image_type": "snapshot", **meta})
    return _image_response(request, image_id)


async def create_backup(request: Request, args):
    """``{"createBackup": {"name", "backup_type", "rotation", "metadata"?}}`` -> 202 (2.45+:
    {"image_id"}); like createImage with image_type backup; the agent then keeps the newest
    ``rotation`` backups of that type. 400 bad body, 409 wrong state."""
    args = _object("createBackup", args)
    check_extra(args, {"name", "backup_type", "rotation", "metadata"})
    name = name_value(args, "name")
    backup_type = args.get("backup_type")
    if not isinstance(backup_type, str) or not backup_type:
        raise invalid("backup_type", backup_type, "'backup_type' is a required property")
    rotation = args.get("rotation")
    if isinstance(rotation, str) and rotation.isdigit():
        rotation = int(rotation)
    if isinstance(rotation, bool) or not isinstance(rotation, int) or rotation < 0:
        raise invalid("rotation", rotation, f"{rotation!r} is not a non-negative integer")
    meta = metadata_value(args.get("metadata") or {})
    ctx, inst = await authorized_server(request, "os_compute_api:os-create-backup")
    image_id = await _svc(request).snapshot_action(
        ctx, inst.uuid, "createBackup", name, dict(meta, image_type="backup", backup_type=backup_type),
        rotation=rotation, backup_type=backup_type)
    return _image_response(request, image_id)


async def shelve(request: Request, args):
    """``{"shelve": null}`` -> 202: snapshot "<name>-shelved", power off; offloaded at once
    with ``[compute] shelved_offload_time`` 0; 409 wrong state."""
    ctx, inst = await authorized_server(request, "os_compute_api:os-shelve:shelve")
    svc = _svc(request)
    offload = svc.settings.compute.shelved_offload_time == 0
    await svc.snapshot_action(ctx, inst.uuid, "shelve", f"{inst.display_name}-shelved",
                              {"image_type": "snapshot"}, offload=offload)
    return ok(status=202)


async def unshelve(request: Request, args):
    """``{"unshelve": null | {"availability_zone"?} (2.77)}`` -> 202; 400 unknown zone; 409 wrong
    state, a zone for a server that is not offloaded, or no host."""
    zone = None
    if args is not None:
        args = _object("unshelve", args)
        check_extra(args, {"availability_zone"} if at_least(request, 2, 77) else set())
        if "availability_zone" in args:
            zone = name_value(args, "availability_zone")
    ctx, inst = await authorized_server(request, "os_compute_api:os-shelve:unshelve")
    await _svc(request).unshelve(ctx, inst.uuid, availability_zone=zone)
    return ok(status=202)


async def change_password(request: Request, args):
    """``{"changePassword": {"adminPass": str}}`` -> 202 (Compute API "Change Administrative
    Password"); 400 bad body; 409 not ACTIVE, or the driver / guest cannot set passwords."""
    args = _object("changePassword", args)
    check_extra(args, {"adminPass"})
    if "adminPass" not in args:
        raise invalid("changePassword", args, "'adminPass' is a required property")
    password = _password(args)
    ctx, inst = await authorized_server(request, "os_compute_api:os-admin-password")
    await server_extras.change_password(_svc(request), ctx, inst.uuid, password)
    return ok(status=202)


async def force_delete(request: Request, args):
    """``{"forceDelete": null}`` -> 202: delete now, also a SOFT_DELETED server."""
    ctx, inst = await authorized_server(request, "os_compute_api:os-deferred-delete:force")
    await _svc(request).delete_server(ctx, inst.uuid, force=True)
    return ok(status=202)


#: action name -> handler(request, args) -> Response
ACTIONS = {
    "pause": _simple("pause", "os_compute_api:os-pause-server:pause"),
    "unpause": _simple("unpause", "os_compute_api:os-pause-server:unpause"),
    "suspend": _simple("suspend", "os_compute_api:os-suspend-server:suspend"),
    "resume": _simple("resume", "os_compute_api:os-suspend-server:resume"),
    "rescue": rescue,
    "unrescue": _simple("unrescue", "os_compute_api:os-unrescue"),
    "rebuild": rebuild,
    "resize": resize,
    "confirmResize": confirm_resize,
    "revertResize": _simple("revertResize", "os_compute_api:servers:revert_resize"),
    "createImage": create_image,
    "createBackup": create_backup,
    "shelve": shelve,
    "shelveOffload": _simple("shelveOffload", "os_compute_api:os-shelve:shelve_offload"),
    "unshelve": unshelve,
    "restore": _simple("restore", "os_compute_api:os-deferred-delete:restore"),
    "forceDelete": force_delete,
    "changePassword": change_password,
}
