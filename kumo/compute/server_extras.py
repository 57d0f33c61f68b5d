"""Service side of the smaller server APIs: tags, lock, reset state, password, diagnostics.

Compute API reference sections "Server tags (servers, tags)", "Servers - run
an action" (lock, unlock, os-resetState), "Servers password (servers,
os-server-password)" and "Servers diagnostics (servers, diagnostics)". Every
function takes the :class:`~kumo.compute.service.ComputeService` (``compute``)
and the caller's context; lookups are 404 for servers the caller does not see.
"""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from kumo.common.api.errors import BadRequest, Conflict, Forbidden, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.bus import NoListener, RemoteError
from kumo.common.db import utcnow
from kumo.compute import objects
from kumo.compute.instance_actions import record_action
from kumo.compute.models import Instance

#: Most tags a server may have (nova's MAX_TAGS_PER_INSTANCE).
MAX_TAGS = 50
#: vm_states in which tags may change (nova's server tags API).
_TAG_STATES = ("active", "paused", "suspended", "stopped", "shelved", "shelved_offloaded", "building")
#: Seconds to wait for the agent's diagnostics.
AGENT_TIMEOUT = 30


def _over_limit() -> BadRequest:
    return BadRequest(f"The number of tags exceeded the per-server limit {MAX_TAGS}")


# -- tags -------------------------------------------------------------------------------------

async def change_tags(compute, ctx: RequestContext, uuid: str, *, replace: list[str] | None = None,
                      add: str | None = None, remove: str | None = None) -> tuple[list[str], bool]:
    """Replace all tags (``replace``, [] clears), add one or remove one; returns ``(tags, changed)``.

    400 over :data:`MAX_TAGS`; 404 unknown server or (``remove``) tag; 409
    while the server is in a state where nova refuses tag changes.
    """
    async with compute.db.session() as s:
        inst = await compute.get_instance(ctx, uuid, s)
        if inst.vm_state not in _TAG_STATES:
            raise Conflict(f"Cannot 'update tags' instance {uuid} while it is in vm_state {inst.vm_state}")
        tags = list(inst.tags or [])
        if replace is not None:
            if len(replace) > MAX_TAGS:
                raise _over_limit()
            new = list(replace)
        elif add is not None:
            new = tags if add in tags else tags + [add]
            if len(new) > MAX_TAGS:
                raise _over_limit()
        else:
            if remove not in tags:
                raise NotFound(f"Tag {remove} could not be found.")
            new = [t for t in tags if t != remove]
        changed = new != tags
        if changed:
            inst.tags = new
            inst.updated_at = utcnow()
    return new, changed


def tag_filter(all_of: list[str], any_of: list[str], not_all: list[str], not_any: list[str]):
    """A predicate on instances for ``tags``, ``tags-any``, ``not-tags``, ``not-tags-any``."""
    def matches(inst: Instance) -> bool:
        have = set(inst.tags or [])
        if all_of and not set(all_of) <= have:
            return False
        if any_of and not have & set(any_of):
            return False
        if not_all and set(not_all) <= have:
            return False
        if not_any and have & set(not_any):
            return False
        return True
    return matches


# -- lock, reset state --------------------------------------------------------------------------

def check_unlocked(compute, ctx: RequestContext, inst: Instance) -> None:
    """409 "Instance X is locked" when the server is locked and the caller is not an admin."""
    if inst.locked and not compute.policy.is_admin(ctx):
        raise Conflict(f"Instance {inst.uuid} is locked")


async def set_lock(compute, ctx: RequestContext, uuid: str, locked: bool, reason: str | None = None,
                   may_override: bool = False) -> None:
    """Lock (with ``reason``) or unlock the server. ``locked_by`` is ``owner`` when the caller
    belongs to the server's project, else ``admin``; unlocking a server the other party locked
    needs ``may_override`` (the unlock_override rule): 403 otherwise."""
    async with compute.db.session() as s:
        inst = await compute.get_instance(ctx, uuid, s)
        by = "owner" if ctx.project_id == inst.project_id else "admin"
        if not locked and inst.locked and inst.locked_by and inst.locked_by != by and not may_override:
            raise Forbidden("Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override "
                            "to be performed.")
        inst.locked = locked
        inst.locked_by = by if locked else None
        inst.locked_reason = reason if locked else None
        inst.updated_at = utcnow()
        await record_action(s, ctx, uuid, "lock" if locked else "unlock")


async def reset_state(compute, ctx: RequestContext, uuid: str, state: str) -> None:
    """os-resetState: vm_state ``active`` or ``error``, task_state cleared (admin)."""
    async with compute.db.session() as s:
        inst = await compute.get_instance(ctx, uuid, s)
        inst.vm_state, inst.task_state = state, None
        inst.updated_at = utcnow()
        await record_action(s, ctx, uuid, "resetState")


async def inject_network_info(compute, ctx: RequestContext, uuid: str) -> None:
    """injectNetworkInfo: records the action; 409 while the server has no host."""
    async with compute.db.session() as s:
        inst = await compute.get_instance(ctx, uuid, s)
        if not inst.host:
            raise Conflict(f"Cannot 'inject_network_info' instance {uuid} while it is in vm_state "
                           f"{inst.vm_state}")
        await record_action(s, ctx, uuid, "inject_network_info")


# -- password -----------------------------------------------------------------------------------

async def clear_password(compute, ctx: RequestContext, uuid: str) -> None:
    """Forget the server's password (``DELETE /servers/{id}/os-server-password``)."""
    async with compute.db.session() as s:
        inst = await compute.get_instance(ctx, uuid, s)
        inst.password = None
        inst.updated_at = utcnow()


async def store_password(db, uuid: str, password: str) -> bool:
    """The metadata service's ``POST /openstack/latest/password``: set it when none is set;
    False when the instance already has one (nova answers 409 then)."""
    async with db.session() as s:
        inst = (await s.execute(select(Instance).where(
            Instance.uuid == uuid, Instance.deleted.is_(False)))).scalar_one_or_none()
        if inst is None:
            raise NotFound(f"Instance {uuid} could not be found.")
        if inst.password:
            return False
        inst.password = password
        return True


async def change_password(compute, ctx: RequestContext, uuid: str, password: str) -> None:
    """changePassword: the server's agent sets the guest's admin password (a call). 409 unless
    the server is ACTIVE with no task, when its agent is unreachable or its driver or guest
    cannot set passwords (nova's "QEMU guest agent is not enabled" case)."""
    async with compute.db.session() as s:
        inst = await compute.get_instance(ctx, uuid, s)
        if inst.vm_state != objects.ACTIVE or inst.task_state is not None or not inst.host:
            raise Conflict(f"Cannot 'changePassword' instance {uuid} while it is in vm_state "
                           f"{inst.vm_state}")
        await record_action(s, ctx, uuid, "changePassword")
        payload = objects.instance_to_dict(inst)
    try:
        await compute.rt.bus.call(f"compute.{payload['host']}", "set_admin_password",
                                  instance=payload, password=password, timeout=AGENT_TIMEOUT)
    except (NoListener, asyncio.TimeoutError):
        raise Conflict(f"Compute service of {payload['host']} is unavailable at this time.") from None
    except RemoteError as e:
        raise Conflict(f"Unable to set password on instance {uuid}: {e.message}") from None


# -- diagnostics --------------------------------------------------------------------------------

async def diagnostics(compute, ctx: RequestContext, uuid: str) -> dict:
    """The agent's diagnostics of the server (the 2.48 shape, see ComputeDriver.get_diagnostics);
    409 while it has no host, is building, or its agent cannot answer."""
    inst = await compute.get_instance(ctx, uuid)
    if not inst.host or inst.vm_state == objects.BUILDING:
        raise Conflict(f"Cannot 'get_diagnostics' instance {uuid} while it is in vm_state {inst.vm_state}")
    try:
        return await compute.rt.bus.call(f"compute.{inst.host}", "get_diagnostics",
                                         instance=objects.instance_to_dict(inst), timeout=AGENT_TIMEOUT)
    except (NoListener, asyncio.TimeoutError):
        raise Conflict(f"Compute service of {inst.host} is unavailable at this time.") from None
    except RemoteError as e:
        raise Conflict(f"Unable to get diagnostics of instance {uuid}: {e.message}") from None
