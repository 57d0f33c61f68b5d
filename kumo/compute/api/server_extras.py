"""Lock / unlock / os-resetState actions, os-server-password and diagnostics.

Compute API reference: "Lock Server (lock Action)" and "Unlock Server" (2.73
``locked_reason``), "Reset Server State (os-resetState Action)", "Servers
password (servers, os-server-password)", "Servers diagnostics (servers,
diagnostics)" (2.48 shape; the libvirt-style flat shape before).

A locked server refuses other actions to non-admins (409 "Instance X is
locked"): :func:`check_lock` runs before every server action except those in
:data:`LOCK_EXEMPT`, and before delete and metadata changes.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api import context
from kumo.compute import server_extras
from kumo.compute.api.common import at_least, ok, policy, server_for, server_target
from kumo.compute.policies import LOCK
from kumo.compute.schemas import check_extra, invalid

#: Actions a locked server still accepts from anyone allowed to do them.
LOCK_EXEMPT = {"lock", "unlock", "os-getConsoleOutput", "os-resetState", "injectNetworkInfo",
               "os-getVNCConsole",
               "os-getSerialConsole", "os-getSPICEConsole", "os-getRDPConsole",
               "createBackup", "createImage"}


async def check_lock(request: Request) -> None:
    """409 when the URL's server is locked and the caller is not an admin (404 unknown server)."""
    svc = request.app.state.compute
    ctx = context(request)
    inst = await svc.get_instance(ctx, request.path_params["server_id"])
    server_extras.check_unlocked(svc, ctx, inst)


async def lock(request: Request, args) -> None:
    """``{"lock": null}`` (any value before 2.73) or (2.73+) ``{"lock": {"locked_reason": str <=
    255}}`` -> 202."""
    reason = None
    if args is not None and at_least(request, 2, 73):  # nova checks no body before 2.73
        if not isinstance(args, dict):
            raise invalid("lock", args, f"{args!r} is not of type 'object', 'null'")
        check_extra(args, {"locked_reason"})
        reason = args.get("locked_reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 255):
            raise invalid("locked_reason", reason, "must be a string of at most 255 characters")
    ctx, inst = await server_for(request, LOCK + "lock")
    await server_extras.set_lock(request.app.state.compute, ctx, inst.uuid, True, reason)


async def unlock(request: Request, args) -> None:
    """``{"unlock": null}`` (nova checks no value: tempest sends ``{}``) -> 202; 403 when someone
    else (owner vs admin) locked it and the caller may not override
    (``os-lock-server:unlock:unlock_override``)."""
    ctx, inst = await server_for(request, LOCK + "unlock")
    override = policy(request).check(ctx, LOCK + "unlock:unlock_override", server_target(inst))
    await server_extras.set_lock(request.app.state.compute, ctx, inst.uuid, False, may_override=override)


async def reset_state(request: Request, args) -> None:
    """``{"os-resetState": {"state": "active"|"error"}}`` -> 202 (admin)."""
    if not isinstance(args, dict) or "state" not in args:
        raise invalid("os-resetState", args, "'state' is a required property")
    check_extra(args, {"state"})
    if args["state"] not in ("active", "error"):
        raise invalid("os-resetState/state", args["state"], f"{args['state']!r} is not one of "
                                                            "['active', 'error']")
    ctx, inst = await server_for(request, "os_compute_api:os-admin-actions:reset_state")
    await server_extras.reset_state(request.app.state.compute, ctx, inst.uuid, args["state"])


async def inject_network_info(request: Request, args) -> None:
    """``{"injectNetworkInfo": null}`` -> 202 (admin). Guests configure their network from DHCP,
    the metadata service or the config drive, so there is nothing to push into them; the
    action is recorded; 409 while the server has no host."""
    ctx, inst = await server_for(request, "os_compute_api:os-admin-actions:inject_network_info")
    await server_extras.inject_network_info(request.app.state.compute, ctx, inst.uuid)


#: server actions of this module: name -> handler(request, args), answered 202
ACTIONS = {"lock": lock, "unlock": unlock, "os-resetState": reset_state,
           "injectNetworkInfo": inject_network_info}


# -- os-server-password --------------------------------------------------------------------------

async def show_password(request: Request):
    """GET /servers/{id}/os-server-password -> 200 {"password": str ("" when none was set)}."""
    _, inst = await server_for(request, "os_compute_api:os-server-password:show")
    return ok({"password": inst.password or ""})


async def clear_password(request: Request):
    """DELETE /servers/{id}/os-server-password -> 204 (the password is forgotten, not changed)."""
    ctx, inst = await server_for(request, "os_compute_api:os-server-password:clear")
    await server_extras.clear_password(request.app.state.compute, ctx, inst.uuid)
    return ok(status=204)


# -- diagnostics ---------------------------------------------------------------------------------

def legacy_diagnostics(diag: dict) -> dict:
    """The pre-2.48 (libvirt-style) flat body from the 2.48 shape: ``cpuN_time``, ``memory``
    (KiB), ``memory-actual``, ``<disk>_read``..., ``<nic>_rx``..."""
    out: dict = {}
    for cpu in diag.get("cpu_details") or []:
        out[f"cpu{cpu.get('id', 0)}_time"] = cpu.get("time")
    memory = diag.get("memory_details") or {}
    out["memory"] = memory.get("maximum") and memory["maximum"] * 1024
    out["memory-actual"] = out["memory"]
    for n, disk in enumerate(diag.get("disk_details") or []):
        name = f"vd{chr(ord('a') + n)}"
        out.update({f"{name}_read": disk.get("read_bytes"), f"{name}_read_req": disk.get("read_requests"),
                    f"{name}_write": disk.get("write_bytes"),
                    f"{name}_write_req": disk.get("write_requests"), f"{name}_errors": disk.get("errors_count")})
    for n, nic in enumerate(diag.get("nic_details") or []):
        name = f"vnet{n}"
        for key in ("rx", "tx"):
            out.update({f"{name}_{key}": nic.get(f"{key}_octets"), f"{name}_{key}_drop": nic.get(f"{key}_drop"),
                        f"{name}_{key}_errors": nic.get(f"{key}_errors"),
                        f"{name}_{key}_packets": nic.get(f"{key}_packets")})
    return out


async def show_diagnostics(request: Request):
    """GET /servers/{id}/diagnostics -> 200 the 2.48 body {"state", "driver", "hypervisor",
    "hypervisor_os", "uptime" (s), "config_drive", "num_cpus", "num_nics", "num_disks",
    "memory_details" {"maximum", "used"} (MiB), "cpu_details", "nic_details", "disk_details"}
    (the flat libvirt body before 2.48); 403 non-admin, 404, 409 not running anywhere."""
    ctx, inst = await server_for(request, "os_compute_api:os-server-diagnostics")
    diag = await server_extras.diagnostics(request.app.state.compute, ctx, inst.uuid)
    return ok(diag if at_least(request, 2, 48) else legacy_diagnostics(diag))


def routes() -> list[Route]:
    """os-server-password and diagnostics routes (under /v2.1)."""
    p = "/v2.1/servers/{server_id}"
    return [Route(p + "/os-server-password", show_password, methods=["GET"]),
            Route(p + "/os-server-password", clear_password, methods=["DELETE"]),
            Route(p + "/diagnostics", show_diagnostics, methods=["GET"])]
