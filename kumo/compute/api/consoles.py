"""Server consoles: the serial console log and remote console URLs.

Compute API reference sections:

- "Show Console Output (os-getConsoleOutput Action)":
  ``{"os-getConsoleOutput": {"length": N|"N"|-1|null}}`` -> 200 ``{"output": str}``, the last
  ``length`` lines of the guest's serial console log (-1 or null: all of it, at most 100 KiB);
  400 bad length, 404, 409 no host / building / error / agent gone.
- "Get VNC Console (os-getVNCConsole Action)" and its SPICE / RDP / serial siblings (2.1-2.5):
  ``{"os-getVNCConsole": {"type": "novnc"}}`` -> 200 ``{"console": {"type", "url"}}``.
- "Create Console" (2.6+): ``POST /servers/{id}/remote-consoles``
  ``{"remote_console": {"protocol": "vnc", "type": "novnc"}}`` -> 200
  ``{"remote_console": {"protocol", "type", "url"}}``.
- "Show Console Connection Information" (admin): ``GET /os-console-auth-tokens/{token}`` -> 200
  ``{"console": {"instance_uuid", "host", "port", "internal_access_path"}}``; 404 unknown or
  expired token; before 2.31 only rdp-html5 tokens may be read (401 otherwise).

Console URL errors: 400 for a type outside the schema's enums, a type not of its protocol or one
this cloud does not serve (only ``novnc``); 403 policy; 404; 409 server not ACTIVE. Tokens and
URLs: :mod:`kumo.compute.consoleauth`.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest, NotFound, Unauthorized
from kumo.compute import consoleauth
from kumo.compute.api.common import at_least, authorize, ok, server_for
from kumo.compute.schemas import check_extra, invalid

REMOTE_CONSOLES = "os_compute_api:os-remote-consoles"
AUTH_TOKENS = "os_compute_api:os-console-auth-tokens"

#: legacy action -> (protocol, the console types its schema accepts)
_LEGACY = {"os-getVNCConsole": ("vnc", ["novnc", "xvpvnc"]),
           "os-getSPICEConsole": ("spice", ["spice-html5"]),
           "os-getRDPConsole": ("rdp", ["rdp-html5"]),
           "os-getSerialConsole": ("serial", ["serial"])}
_PROTOCOLS = ["vnc", "spice", "rdp", "serial"]
_TYPES = ["novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial"]


def _enum(name: str, value, allowed: list[str]) -> str:
    if value not in allowed:
        raise invalid(name, value, f"{value!r} is not one of {allowed!r}")
    return value


def _console_length(args) -> int | None:
    """The ``length`` of an os-getConsoleOutput body (None: the whole log)."""
    if args is None:
        return None
    if not isinstance(args, dict):
        raise BadRequest("Malformed request body")
    check_extra(args, {"length"})
    length = args.get("length")
    if length is None:
        return None
    if isinstance(length, str) and length.lstrip("-").isdigit():
        length = int(length)
    if isinstance(length, bool) or not isinstance(length, int) or length < -1:
        raise invalid("length", length, f"{length!r} is not valid under any of the given schemas")
    return None if length == -1 else length


async def console_output(request: Request, args) -> Response:
    length = _console_length(args)
    ctx, inst = await server_for(request, "os_compute_api:os-console-output")
    output = await request.app.state.compute.console_output(ctx, inst.uuid, length)
    return ok({"output": output})


def _legacy(action: str):
    protocol, types = _LEGACY[action]

    async def handler(request: Request, args) -> Response:
        if at_least(request, 2, 6):  # nova serves these up to 2.5 only
            raise NotFound("The resource could not be found.")
        if not isinstance(args, dict) or "type" not in args:
            raise invalid(action, args, "'type' is a required property")
        check_extra(args, {"type"})
        console_type = _enum("type", args["type"], types)
        ctx, inst = await server_for(request, REMOTE_CONSOLES)
        url = await consoleauth.create_console(request.app.state.compute, ctx, inst.uuid, protocol,
                                               console_type)
        return ok({"console": {"type": console_type, "url": url}})
    return handler


#: ``server_action`` dispatch: action name -> handler(request, args) -> Response
ACTIONS = {"os-getConsoleOutput": console_output, **{name: _legacy(name) for name in _LEGACY}}


async def create_remote_console(request: Request):
    """POST /servers/{id}/remote-consoles (2.6+; webmks/mks from 2.8, refused here as unavailable)."""
    if not at_least(request, 2, 6):
        raise NotFound("The resource could not be found.")
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("remote_console"), dict):
        raise invalid("remote_console", body, "'remote_console' is a required property")
    check_extra(body, {"remote_console"})
    data = body["remote_console"]
    for key in ("protocol", "type"):
        if key not in data:
            raise invalid("remote_console", data, f"{key!r} is a required property")
    check_extra(data, {"protocol", "type"})
    mks = at_least(request, 2, 8)
    protocol = _enum("remote_console/protocol", data["protocol"], _PROTOCOLS + (["mks"] if mks else []))
    console_type = _enum("remote_console/type", data["type"], _TYPES + (["webmks"] if mks else []))
    ctx, inst = await server_for(request, REMOTE_CONSOLES)
    url = await consoleauth.create_console(request.app.state.compute, ctx, inst.uuid, protocol, console_type)
    return ok({"remote_console": {"protocol": protocol, "type": console_type, "url": url}})


async def show_console_auth_token(request: Request):
    """GET /os-console-auth-tokens/{token} (admin)."""
    authorize(request, AUTH_TOKENS)
    details = await consoleauth.validate(request.app.state.db, request.path_params["token"])
    if details is None:
        raise NotFound("Token not found")
    if not at_least(request, 2, 31) and details["console_type"] != "rdp-html5":
        raise Unauthorized("The requested console type details are not accessible")
    return ok({"console": {k: details[k] for k in ("instance_uuid", "host", "port", "internal_access_path")}})


def routes() -> list[Route]:
    return [Route("/v2.1/servers/{server_id}/remote-consoles", create_remote_console, methods=["POST"]),
            Route("/v2.1/os-console-auth-tokens/{token}", show_console_auth_token, methods=["GET"])]
