"""Server lifecycle actions, service side (Compute API reference "Servers - run an action":
pause, unpause, suspend, resume, rescue, unrescue, rebuild, resize, confirmResize, revertResize,
createImage, createBackup, shelve, shelveOffload, unshelve, restore, forceDelete; soft delete).

:class:`ServerLifecycle` is mixed into :class:`~kumo.compute.service.ComputeService`. Every
action checks nova's state rules (:data:`TRANSITIONS`; 409 "Cannot 'X' instance <uuid> while
it is in vm_state Y"), sets the first task_state, records the instance action and casts the
agent method on ``compute.<host>`` (:mod:`kumo.compute.agent.lifecycle` does the work and
ends with task_state None). When the agent is not listening the row is put back and the
answer is 409. Snapshots (createImage, createBackup, shelve) first create a queued image in
the image API with the caller's token; the agent uploads its data.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from kumo.common.api.errors import ApiError, BadRequest, Conflict, Forbidden, ServiceUnavailable
from kumo.common.api.errors import response_message
from kumo.common.auth.context import RequestContext
from kumo.common.bus import NoListener
from kumo.common.db import utcnow
from kumo.compute import aggregates, migrations, objects, quotas
from kumo.compute.models import Instance, KeyPair

log = logging.getLogger(__name__)

ACTIVE, STOPPED, ERROR = objects.ACTIVE, objects.STOPPED, objects.ERROR
PAUSED, SUSPENDED, RESCUED, RESIZED = "paused", "suspended", "rescued", "resized"
SHELVED, OFFLOADED, SOFT_DELETED = "shelved", "shelved_offloaded", "soft-delete"


@dataclass(frozen=True)
class Transition:
    """Nova's check_instance_state for one action: allowed vm_states and task_states, the
    task_state the API sets and the agent method it casts."""

    vm_states: tuple[str, ...]
    task: str
    method: str
    task_states: tuple[str | None, ...] = (None,)


TRANSITIONS = {
    "pause": Transition((ACTIVE,), "pausing", "pause_instance"),
    "unpause": Transition((PAUSED,), "unpausing", "unpause_instance"),
    "suspend": Transition((ACTIVE,), "suspending", "suspend_instance"),
    "resume": Transition((SUSPENDED,), "resuming", "resume_instance"),
    "rescue": Transition((ACTIVE, STOPPED, ERROR), "rescuing", "rescue_instance"),
    "unrescue": Transition((RESCUED,), "unrescuing", "unrescue_instance"),
    "rebuild": Transition((ACTIVE, STOPPED, ERROR), "rebuilding", "rebuild_instance"),
    "resize": Transition((ACTIVE, STOPPED), "resize_prep", "resize_instance"),
    "confirmResize": Transition((RESIZED,), "resize_confirming", "confirm_resize"),
    "revertResize": Transition((RESIZED,), "resize_reverting", "revert_resize"),
    "createImage": Transition((ACTIVE, STOPPED, PAUSED, SUSPENDED), "image_snapshot", "snapshot_instance"),
    "createBackup": Transition((ACTIVE, STOPPED, PAUSED, SUSPENDED), "image_backup", "snapshot_instance"),
    "shelve": Transition((ACTIVE, STOPPED, PAUSED, SUSPENDED), "shelving", "shelve_instance"),
    "shelveOffload": Transition((SHELVED,), "shelving_offloading", "shelve_offload_instance"),
    "unshelve": Transition((SHELVED, OFFLOADED), "unshelving", "unshelve_instance"),
    "restore": Transition((SOFT_DELETED,), "restoring", "restore_instance"),
    "softDelete": Transition((ACTIVE, STOPPED, PAUSED, SUSPENDED, RESCUED, RESIZED, SHELVED, ERROR),
                             "soft-deleting", "soft_delete_instance"),
}

#: base image properties a snapshot keeps (prefixes; nova copies the image_* system metadata)
INHERITED_PROPERTIES = ("hw_", "img_", "os_distro", "os_type", "os_version", "os_require_quiesce",
                        "architecture", "hypervisor_type", "vm_mode", "auto_disk_config")

#: instance action names (os-instance-actions) of the API actions
ACTION_NAMES = {"createImage": "createImage", "createBackup": "createBackup",
                "confirmResize": "confirmResize", "revertResize": "revertResize",
                "shelveOffload": "shelveOffload", "softDelete": "delete"}


def check_state(inst: Instance, action: str, vm_states, task_states=(None,)) -> None:
    """409 in nova's words unless the instance's vm_state and task_state allow ``action``."""
    if inst.vm_state not in vm_states:
        raise Conflict(f"Cannot '{action}' instance {inst.uuid} while it is in vm_state {inst.vm_state}")
    if inst.task_state not in task_states:
        raise Conflict(f"Cannot '{action}' instance {inst.uuid} while it is in task_state {inst.task_state}")


class ServerLifecycle:
    """The actions; needs ComputeService's ``db``, ``rt``, ``settings``, ``get_instance``,
    ``image``."""

    async def lifecycle_action(self, ctx: RequestContext, uuid: str, action: str, values=None,
                               prepare=None, host_needed: bool = True, **kwargs) -> Instance:
        """Check :data:`TRANSITIONS` [``action``], await ``prepare(inst, session)`` (it may raise
        400/403/409),
        set ``values`` and the task_state, record the instance action and cast the agent
        method with ``kwargs``. Returns the updated instance. 409 wrong state, no host or the
        agent is not listening (the row is put back then)."""
        rule = TRANSITIONS[action]
        async with self.db.session() as s:
            inst = await self.get_instance(ctx, uuid, s)
            check_state(inst, action, rule.vm_states, rule.task_states)
            if host_needed and not inst.host:
                raise Conflict(f"Instance {uuid} is not ready")
            if prepare is not None:
                await prepare(inst, s)
            changes = dict(values or {}, task_state=rule.task)
            saved = {key: getattr(inst, key) for key in changes}
            for key, value in changes.items():
                setattr(inst, key, value)
            inst.updated_at = utcnow()
            await _record(s, ctx, uuid, ACTION_NAMES.get(action, action))
            payload = objects.instance_to_dict(inst)
        if not host_needed and not payload["host"]:
            return inst
        try:
            await self.rt.bus.cast(f"compute.{payload['host']}", rule.method, instance=payload, **kwargs)
        except NoListener:
            async with self.db.session() as s:
                row = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one()
                if row.task_state == rule.task:
                    for key, value in saved.items():
                        setattr(row, key, value)
                    row.updated_at = utcnow()
            raise Conflict(f"Compute service of {payload['host']} is unavailable at this time.") from None
        return inst

    # -- rebuild, resize --------------------------------------------------------------------
    async def rebuild(self, ctx: RequestContext, uuid: str, image_id: str, values: dict,
                      key_name=..., preserve_ephemeral: bool = False) -> Instance:
        """Store the new image, name, metadata... (``values``: Instance attributes) and
        ``key_name`` (None removes the key, ``...`` keeps it), then the agent rebuilds.
        400 unknown or inactive image, unknown key; 409 wrong state."""
        image = await self.image(ctx, image_id)
        if image.get("status") != "active":
            raise BadRequest(f"Image {image_id} is not active.")
        if values.get("injected_files"):
            async with self.db.session() as s:
                await quotas.check_injected_files(s, ctx.project_id, values["injected_files"])
        values = dict(values, image_ref=image_id)
        if key_name is None:
            values.update(key_name=None, key_data=None, key_type=None)
        elif key_name is not ...:
            async with self.db.session() as s:
                pair = (await s.execute(select(KeyPair).where(
                    KeyPair.user_id == ctx.user_id, KeyPair.name == key_name))).scalar_one_or_none()
            if pair is None:
                raise BadRequest("Invalid key_name provided.")
            values.update(key_name=key_name, key_data=pair.public_key, key_type=pair.type)
        return await self.lifecycle_action(ctx, uuid, "rebuild", values=values,
                                           preserve_ephemeral=preserve_ephemeral)

    async def resize(self, ctx: RequestContext, uuid: str, flavorid: str,
                     auto_disk_config: bool | None = None) -> Instance:
        """Resize to flavor ``flavorid`` on the server's host (system_metadata keeps the old and
        new flavor and the vm_state to return to); ``auto_disk_config`` (not None) sets the
        server's OS-DCF:diskConfig. 400 unknown or same flavor, a smaller root disk; 403 the
        growth passes the cores/ram quota; 409 wrong state."""
        from kumo.compute.service import flavor_for  # noqa: PLC0415 - service imports this module
        async with self.db.session() as s:
            flavor = await flavor_for(s, flavorid, ctx.project_id, self.policy.is_admin(ctx))
        if flavor is None:
            raise BadRequest("Unable to locate requested flavor.")
        new = objects.flavor_snapshot(flavor)

        async def prepare(inst: Instance, session) -> None:
            old = inst.flavor
            if old.get("id") == new["id"]:
                raise BadRequest("When resizing, instances must change flavor!")
            if int(new.get("disk") or 0) < int(old.get("disk") or 0) or (
                    not new.get("disk") and old.get("disk")):
                raise BadRequest("Resize error: Unable to resize disk down.")
            await _check_resize_quota(session, inst, old, new)
            await migrations.start_resize(session, inst, old, new)
            inst.system_metadata = dict(inst.system_metadata or {}, old_flavor=dict(old), new_flavor=new,
                                        old_vm_state=inst.vm_state)
            if auto_disk_config is not None:
                inst.auto_disk_config = auto_disk_config

        return await self.lifecycle_action(ctx, uuid, "resize", prepare=prepare)

    # -- images ---------------------------------------------------------------------------
    async def create_snapshot_image(self, ctx: RequestContext, inst: Instance, name: str,
                                    properties: dict) -> str:
        """A queued qcow2 image ``name`` for the server's disk, owned by the caller's project
        (Image API ``POST /v2/images`` with the caller's token), with nova's snapshot properties
        (instance_uuid, base_image_ref, user_id, owner_user_name / owner_project_name, min_ram and
        the hardware properties of the base image, min_disk the flavor's root disk) plus
        ``properties`` (they win); returns its id. 403/413 from the image API become 403."""
        source = (await self._get("image", f"/v2/images/{inst.image_ref}")) if inst.image_ref else None
        source = source or {}
        body = {k: v for k, v in source.items() if k.startswith(INHERITED_PROPERTIES)}
        body.update({"name": name, "container_format": "bare", "disk_format": "qcow2",
                     "visibility": "private", "instance_uuid": inst.uuid,
                     "base_image_ref": inst.image_ref or "", "user_id": ctx.user_id,
                     "owner_user_name": ctx.user_name or "", "owner_project_name": ctx.project_name or "",
                     "min_ram": int(source.get("min_ram") or 0),
                     "min_disk": int(inst.flavor.get("disk") or source.get("min_disk") or 0)})
        body.update({k: str(v) for k, v in properties.items()})
        try:
            base = await self.rt.service_auth.endpoint("image")
            resp = await self.rt.service_auth.http.request(
                "POST", f"{base}/v2/images", json=body, headers={"X-Auth-Token": ctx.token})
        except ApiError:
            raise
        except Exception as e:
            raise ServiceUnavailable(f"The image service is not available: {e}") from None
        if resp.status_code in (403, 413):
            raise Forbidden(response_message(resp))
        if resp.status_code == 400:
            raise BadRequest(response_message(resp))
        if resp.status_code != 201:
            raise ServiceUnavailable(f"image service answered {resp.status_code}: {response_message(resp)}")
        return resp.json()["id"]

    async def delete_image_quietly(self, image_id: str) -> None:
        """Remove an image this service made (when the action it was for did not start)."""
        try:
            await self.rt.service_auth.request("image", "DELETE", f"/v2/images/{image_id}")
        except Exception as e:
            log.warning("image %s left behind: %s", image_id, e)

    async def snapshot_action(self, ctx: RequestContext, uuid: str, action: str, name: str,
                              properties: dict, **kwargs) -> str:
        """createImage / createBackup / shelve: state check, queued image, then the action
        (the image is deleted again when the action cannot start); returns the image id."""
        rule = TRANSITIONS[action]
        inst = await self.get_instance(ctx, uuid)
        check_state(inst, action, rule.vm_states, rule.task_states)
        image_id = await self.create_snapshot_image(ctx, inst, name, properties)
        try:
            await self.lifecycle_action(ctx, uuid, action, image_id=image_id, **kwargs)
        except BaseException:
            await self.delete_image_quietly(image_id)
            raise
        return image_id

    # -- shelve ---------------------------------------------------------------------------
    async def unshelve(self, ctx: RequestContext, uuid: str, availability_zone: str | None = None) -> None:
        """Shelved: the agent powers the guest on. Offloaded: the scheduler's filters and the
        instance's constraints (zone, server group, hints) pick a host, which is claimed, then
        the agent boots the shelved image. ``availability_zone`` (2.77) moves an offloaded
        server to that zone: 400 unknown zone, 409 not offloaded. 409 no valid host (the zone
        is put back)."""
        values, old_zone = None, None
        if availability_zone is not None:
            async with self.db.session() as s:
                inst = await self.get_instance(ctx, uuid, s)
                if inst.vm_state != "shelved_offloaded":
                    raise Conflict(f"The server {uuid} is in vm_state {inst.vm_state}: an "
                                   "availability zone can only be given to a shelved offloaded server.")
                if await aggregates.hosts_of_zone(s, availability_zone) is None:
                    raise BadRequest("The requested availability zone is not available")
                old_zone = inst.availability_zone
            values = {"availability_zone": availability_zone}
        inst = await self.lifecycle_action(ctx, uuid, "unshelve", values=values, host_needed=False)
        if inst.host:
            return
        host = await self._place(inst)
        async with self.db.session() as s:
            payload = objects.instance_to_dict(await self.get_instance(ctx, uuid, s))
        if host is None or payload["host"] != host:
            await self._undo_unshelve(uuid, values, old_zone)
            raise Conflict("No valid host was found. There are not enough hosts available.")
        try:
            await self.rt.bus.cast(f"compute.{host}", "unshelve_instance", instance=payload)
        except NoListener:
            await self._undo_unshelve(uuid, values, old_zone)
            raise Conflict(f"Compute service of {host} is unavailable at this time.") from None

    async def _place(self, inst: Instance) -> str | None:
        """Filter, weigh and claim a host for an offloaded instance (task_state unshelving),
        honouring its zone, server group and hints (kumo.compute.scheduler.constraints)."""
        from kumo.compute.scheduler import constraints  # noqa: PLC0415 - it imports this package
        from kumo.compute.scheduler import manager as sched  # noqa: PLC0415
        ratios = sched.Ratios.from_settings(self.settings.compute)
        for _round in range(sched.MAX_ROUNDS):
            async with self.db.session() as s:
                hosts = await sched.host_states(s)
                needs = await constraints.load(s, inst)
            candidates, report = sched.filter_hosts(hosts, inst.flavor, ratios)
            candidates, report = constraints.apply(needs, candidates, report)
            if not candidates:
                log.info("unshelve of %s: no valid host: %s", inst.uuid, report)
                return None
            for target in constraints.prefer(needs, sched.weigh(candidates, ratios)):
                outcome = await sched.claim(self.db, inst.uuid, inst.flavor, target, ratios,
                                            task_state="unshelving", needs=needs)
                if outcome == "claimed":
                    return target.host
                if outcome == "gone":
                    return None
        return None

    async def _undo_unshelve(self, uuid: str, values: dict | None = None, old_zone: str | None = None) -> None:
        async with self.db.session() as s:
            row = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one()
            row.host = row.node = None
            row.task_state = None
            if values and "availability_zone" in values:
                row.availability_zone = old_zone
            row.updated_at = utcnow()

    # -- soft delete ----------------------------------------------------------------------
    def soft_deletable(self, inst: Instance) -> bool:
        """True when ``[compute] reclaim_instance_interval`` > 0 and ``inst`` is on a host in a
        settled state (DELETE -> SOFT_DELETED); anything else is deleted at once."""
        rule = TRANSITIONS["softDelete"]
        return (self.settings.compute.reclaim_instance_interval > 0 and bool(inst.host)
                and inst.vm_state in rule.vm_states and inst.task_state in rule.task_states)

    async def reclaim(self) -> int:
        """Delete the servers SOFT_DELETED for longer than the reclaim interval (nova's
        _reclaim_queued_deletes); returns how many were deleted."""
        cutoff = utcnow() - timedelta(seconds=self.settings.compute.reclaim_instance_interval)
        async with self.db.session() as s:
            rows = (await s.execute(select(Instance).where(
                Instance.deleted.is_(False), Instance.vm_state == SOFT_DELETED,
                Instance.task_state.is_(None), Instance.updated_at <= cutoff))).scalars().all()
        for inst in rows:
            try:
                await self.delete_server(RequestContext(roles=["admin"]), inst.uuid, force=True)
            except ApiError as e:
                log.warning("reclaim of %s failed: %s", inst.uuid, e)
        return len(rows)

    async def reclaim_loop(self, stopping: asyncio.Event) -> None:
        """Run :meth:`reclaim` every half interval (at least every 60 s) until ``stopping``."""
        while not stopping.is_set():
            period = min(60.0, max(1.0, self.settings.compute.reclaim_instance_interval / 2))
            try:
                await asyncio.wait_for(stopping.wait(), period)
                return
            except TimeoutError:
                pass
            if self.settings.compute.reclaim_instance_interval > 0:
                try:
                    await self.reclaim()
                except Exception:
                    log.exception("reclaiming soft-deleted servers failed")


async def _record(session, ctx: RequestContext, uuid: str, action: str) -> None:
    """The os-instance-actions row of this request (kumo.compute.instance_actions)."""
    from kumo.compute.instance_actions import record_action  # noqa: PLC0415 - optional until C2 lands
    await record_action(session, ctx, uuid, action)


async def _check_resize_quota(session, inst: Instance, old: dict, new: dict) -> None:
    """403 (nova's quota message) when the extra cores / ram of ``new`` over ``old`` pass the
    project's or the user's quota."""
    grow = {"cores": int(new.get("vcpus", 0)) - int(old.get("vcpus", 0)),
            "ram": int(new.get("ram", 0)) - int(old.get("ram", 0))}
    grow = {k: v for k, v in grow.items() if v > 0}
    if not grow:
        return
    for user in (None, inst.user_id):
        limits = await quotas.limits_for(session, inst.project_id, user)
        used = await quotas.usage(session, inst.project_id, user)
        overs = [r for r, n in grow.items() if quotas.over(limits[r], used[r], n)]
        if overs:
            raise quotas.exceeded(overs, grow, used, limits)
