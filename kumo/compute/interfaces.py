"""Attaching and detaching a server's network interfaces (Compute API reference: "Port
interfaces (servers, os-interface)").

The compute API checks the request with the caller's token (the port or
network must be visible, the port free, the fixed IP unused), then asks the
server's agent over the bus (call ``compute.<host>``: ``attach_interface
(instance, network_id, port_id, fixed_ip)`` -> network_info entry,
``detach_interface(instance, port_id)``); the agent binds or creates the
port, hot-plugs it and writes the new network_info through the conductor.
"""
from __future__ import annotations

import asyncio

from kumo.common.api.errors import ApiError, BadRequest, Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.bus import NoListener, RemoteError
from kumo.compute import instance_actions, objects, server_extras
from kumo.compute.models import Instance
from kumo.compute.netproxy import project_of

#: vm_states an interface may be attached or detached in (nova: active, paused, stopped)
_STATES = ("active", "paused", "stopped")
#: seconds the API waits for the agent (a live detach waits for the guest)
AGENT_TIMEOUT = 120


class InterfaceAttachFailed(ApiError):
    """500 as nova answers when the hypervisor or the network API failed the attach."""

    status, kind = 500, "InterfaceAttachFailed"


#: agent error kinds -> compute API errors
_AGENT_ERRORS = {"InterfaceConflict": Conflict, "InterfaceBadRequest": BadRequest,
                 "InterfaceNotFound": NotFound}


def _check_state(inst: Instance, action: str) -> None:
    if inst.vm_state not in _STATES or inst.task_state is not None:
        raise Conflict(f"Cannot '{action}' instance {inst.uuid} while it is in vm_state {inst.vm_state}")
    if not inst.host:
        raise Conflict(f"Instance {inst.uuid} is not ready")


async def _agent(rt, inst: Instance, method: str, **kwargs):
    try:
        return await rt.bus.call(f"compute.{inst.host}", method, instance=objects.instance_to_dict(inst),
                                 timeout=AGENT_TIMEOUT, **kwargs)
    except (NoListener, asyncio.TimeoutError):
        raise Conflict(f"Compute service of {inst.host} is unavailable at this time.") from None
    except RemoteError as e:
        raise _AGENT_ERRORS.get(e.kind, InterfaceAttachFailed)(e.message) from None


async def attach(compute, ctx: RequestContext, inst: Instance, port_id: str | None,
                 network_id: str | None, fixed_ip: str | None) -> dict:
    """Attach a port (``port_id``) or a new port on ``network_id`` (``fixed_ip`` optional; neither:
    the only network the project sees) -> the network_info entry.

    400 no network or several, 404 unknown port or network, 409 port in use, fixed IP taken,
    wrong server state or agent unreachable; 500 the agent failed (nothing is left attached).
    """
    _check_state(inst, "attach_interface")
    server_extras.check_unlocked(compute, ctx, inst)
    proxy = compute.netproxy
    if port_id:
        port = await proxy.find(ctx, "port", "/v2.0/ports", port_id)
        if port is None:
            raise NotFound(f"Port {port_id} could not be found.")
        if port.get("device_id"):
            raise Conflict(f"Port {port_id} is still in use.")
        if not port.get("fixed_ips"):
            raise BadRequest(f"Port {port_id} requires a FixedIP in order to be used.")
    elif network_id:
        net = await proxy.find(ctx, "network", "/v2.0/networks", network_id)
        if net is None or not (net.get("shared") or compute.sees(ctx, project_of(net))):
            raise NotFound(f"Network {network_id} could not be found.")
        if fixed_ip:
            try:
                await compute.check_fixed_ip(network_id, fixed_ip)
            except BadRequest as e:
                raise Conflict(e.message) from None
    else:
        try:
            nets = await compute.networks_for(ctx, None)
        except Conflict as e:
            raise BadRequest(e.message) from None
        if not nets:
            raise BadRequest("No network is available to attach the interface to.")
        network_id = nets[0]["network_id"]
    await instance_actions.record(compute.db, ctx, inst.uuid, "attach_interface")
    return await _agent(compute.rt, inst, "attach_interface", network_id=network_id, port_id=port_id,
                        fixed_ip=fixed_ip)


async def detach(compute, ctx: RequestContext, inst: Instance, port_id: str) -> None:
    """Detach port ``port_id``: 404 when the server has no such interface, 409 wrong state or
    agent unreachable."""
    _check_state(inst, "detach_interface")
    server_extras.check_unlocked(compute, ctx, inst)
    if not any(v.get("port_id") == port_id for v in inst.network_info or []):
        raise NotFound(f"Port {port_id} is not attached")
    await instance_actions.record(compute.db, ctx, inst.uuid, "detach_interface")
    await _agent(compute.rt, inst, "detach_interface", port_id=port_id)
