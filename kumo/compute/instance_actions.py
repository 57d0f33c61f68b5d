"""Instance actions and their events (Compute API reference "Servers actions
(servers, os-instance-actions)"; ``openstack server event list``).

Recording, on the API side, in the transaction that changes the server::

    await record_action(session, ctx, instance_uuid, "reboot")

(or :func:`record` when no transaction is open). The action keeps the
request id, user, project and start time; it outlives the server.

Events come from the compute agent through the conductor
(``action_event_start`` / ``action_event_finish``, DEVELOPERS.md "Bus
contracts"). The agent wraps the work of a bus method in
:class:`EventReporter` ``.report(instance, event, action)``: ``event`` is
nova's name (``compute_reboot_instance``...), ``action`` the action it belongs
to (the newest action of that name on the instance, else its newest action).
An exception finishes the event with result ``Error`` (its traceback is kept;
admins see it) and marks the action's message ``Error``. The conductor's
``instance_fault`` also fails the open event, for work that records a fault
instead of raising (a failed build).
"""
from __future__ import annotations

import logging
import traceback as _traceback
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import select

from kumo.common.db import utcnow
from kumo.compute.models import Instance, InstanceAction, InstanceActionEvent

log = logging.getLogger(__name__)

SUCCESS, ERROR = "Success", "Error"

#: Bus method of the compute agent -> (event name, action name), as nova names them.
AGENT_EVENTS = {
    "build_instance": ("compute__do_build_and_run_instance", "create"),
    "terminate_instance": ("compute_terminate_instance", "delete"),
    "stop_instance": ("compute_stop_instance", "stop"),
    "start_instance": ("compute_start_instance", "start"),
    "reboot_instance": ("compute_reboot_instance", "reboot"),
    "attach_interface": ("compute_attach_interface", "attach_interface"),
    "detach_interface": ("compute_detach_interface", "detach_interface"),
    "set_admin_password": ("compute_set_admin_password", "changePassword"),
}


# -- API side ---------------------------------------------------------------------------------

async def record_action(session, ctx, instance_uuid: str, action: str,
                        message: str | None = None) -> InstanceAction:
    """Add the action ``action`` (``create``, ``delete``, ``reboot``...) of the caller's request on
    ``instance_uuid`` to ``session`` (committed with the caller's transaction) and return it."""
    row = InstanceAction(instance_uuid=instance_uuid, action=action,
                         request_id=ctx.request_id or "", user_id=ctx.user_id or "",
                         project_id=ctx.project_id or "", message=message)
    session.add(row)
    return row


async def record(db, ctx, instance_uuid: str, action: str, message: str | None = None) -> None:
    """:func:`record_action` in a transaction of its own."""
    async with db.session() as s:
        await record_action(s, ctx, instance_uuid, action, message)


async def find_instance(session, uuid: str, deleted: bool = False) -> Instance | None:
    """The instance ``uuid`` (also a deleted one when ``deleted``), or None."""
    stmt = select(Instance).where(Instance.uuid == uuid)
    if not deleted:
        stmt = stmt.where(Instance.deleted.is_(False))
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_actions(session, instance_uuid: str, *, marker: str | None = None, limit: int | None = None,
                       changes_since: datetime | None = None,
                       changes_before: datetime | None = None) -> list[InstanceAction]:
    """The instance's actions, newest first; ``marker`` is a request id (the page starts after it),
    ``changes_since`` / ``changes_before`` bound ``updated_at``. Raises LookupError for an unknown
    marker."""
    stmt = select(InstanceAction).where(InstanceAction.instance_uuid == instance_uuid)
    if changes_since is not None:
        stmt = stmt.where(InstanceAction.updated_at >= changes_since)
    if changes_before is not None:
        stmt = stmt.where(InstanceAction.updated_at <= changes_before)
    rows = list((await session.execute(stmt.order_by(InstanceAction.start_time.desc(),
                                                     InstanceAction.id.desc()))).scalars().all())
    if marker is not None:
        ids = [r.request_id for r in rows]
        if marker not in ids:
            raise LookupError(marker)
        rows = rows[ids.index(marker) + 1:]
    return rows if limit is None else rows[:limit]


async def get_action(session, instance_uuid: str, request_id: str) -> tuple[InstanceAction, list[InstanceActionEvent]] | None:
    """The action of request ``request_id`` on the instance and its events (oldest first), or None."""
    action = (await session.execute(select(InstanceAction).where(
        InstanceAction.instance_uuid == instance_uuid, InstanceAction.request_id == request_id)
        .order_by(InstanceAction.id.desc()))).scalars().first()
    if action is None:
        return None
    events = (await session.execute(select(InstanceActionEvent).where(
        InstanceActionEvent.action_id == action.id).order_by(InstanceActionEvent.id))).scalars().all()
    return action, list(events)


# -- conductor side ---------------------------------------------------------------------------

async def _action_for(session, instance_uuid: str, request_id: str | None,
                      action: str | None) -> InstanceAction | None:
    base = select(InstanceAction).where(InstanceAction.instance_uuid == instance_uuid).order_by(
        InstanceAction.id.desc())
    tries = ([[InstanceAction.request_id == request_id]] if request_id else []) + (
        [[InstanceAction.action == action]] if action else []) + [[]]
    for where in tries:
        row = (await session.execute(base.where(*where))).scalars().first()
        if row is not None:
            return row
    return None


async def event_start(session, instance_uuid: str, event: str, *, host: str | None = None,
                      request_id: str | None = None, action: str | None = None) -> bool:
    """Open event ``event`` on the instance's action (by ``request_id``, else the newest ``action``
    of that name, else the newest one); False when the instance has no action."""
    row = await _action_for(session, instance_uuid, request_id, action)
    if row is None:
        return False
    session.add(InstanceActionEvent(action_id=row.id, event=event, host=host))
    row.updated_at = utcnow()
    return True


async def event_finish(session, instance_uuid: str, event: str, *, result: str = SUCCESS,
                       traceback: str | None = None, details: str | None = None,
                       host: str | None = None, request_id: str | None = None,
                       action: str | None = None) -> bool:
    """Finish the newest open ``event`` (one already finished, e.g. failed by a fault, is kept);
    an event that was never started is recorded whole. ``Error`` also sets the action's message."""
    row = await _action_for(session, instance_uuid, request_id, action)
    if row is None:
        return False
    now = utcnow()
    ev = (await session.execute(select(InstanceActionEvent).where(
        InstanceActionEvent.action_id == row.id, InstanceActionEvent.event == event)
        .order_by(InstanceActionEvent.id.desc()))).scalars().first()
    if ev is None:
        ev = InstanceActionEvent(action_id=row.id, event=event, host=host, start_time=now)
        session.add(ev)
    elif ev.finish_time is not None:
        return True
    ev.finish_time, ev.result = now, result
    ev.traceback, ev.details = traceback, details
    row.updated_at = now
    if result == ERROR:
        row.message = ERROR
    return True


async def fail_open_event(session, instance_uuid: str, message: str, traceback: str | None) -> None:
    """Finish the newest unfinished event of the instance's newest action with ``Error``."""
    row = await _action_for(session, instance_uuid, None, None)
    if row is None:
        return
    ev = (await session.execute(select(InstanceActionEvent).where(
        InstanceActionEvent.action_id == row.id, InstanceActionEvent.finish_time.is_(None))
        .order_by(InstanceActionEvent.id.desc()))).scalars().first()
    if ev is not None:
        now = utcnow()
        ev.finish_time, ev.result, ev.details = now, ERROR, message
        ev.traceback = traceback or message
        row.message, row.updated_at = ERROR, now


# -- agent side -------------------------------------------------------------------------------

class EventReporter:
    """What a compute agent uses to report events to the conductor (``bus.call``).

    Reporting never fails the work: a conductor error is logged.
    """

    def __init__(self, bus, host: str):
        self.bus, self.host = bus, host

    async def _call(self, method: str, **kwargs) -> None:
        try:
            await self.bus.call("conductor", method, **kwargs)
        except Exception as e:  # the event is lost, the work goes on
            log.warning("%s for %s not recorded: %s", method, kwargs.get("instance_id"), e)

    @asynccontextmanager
    async def report(self, instance: dict, event: str, action: str | None = None):
        """Start ``event`` on ``instance``, run the body, finish it Success (or Error and re-raise)."""
        ids = {"instance_id": instance["uuid"], "event": event, "action": action,
               "request_id": instance.get("request_id")}
        await self._call("action_event_start", host=self.host, **ids)
        try:
            yield
        except Exception as e:
            await self._call("action_event_finish", result=ERROR, details=str(e)[:255],
                             traceback="".join(_traceback.format_exception(e))[-4000:],
                             host=self.host, **ids)
            raise
        await self._call("action_event_finish", result=SUCCESS, host=self.host, **ids)

    def for_method(self, method: str, instance: dict):
        """:meth:`report` with the event and action of agent bus method ``method`` (AGENT_EVENTS)."""
        event, action = AGENT_EVENTS[method]
        return self.report(instance, event, action)
