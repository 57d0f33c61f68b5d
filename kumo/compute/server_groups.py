"""Server groups and scheduler hints (nova's instance groups, used by the API and the scheduler).

A group has one policy (:data:`POLICIES`) and, for ``anti-affinity`` from
2.64, the rule ``max_server_per_host``. A server joins a group at create
through the scheduler hint ``group``; its members are the group's live
(non-deleted) servers, so a deleted server leaves its group. The hints a
server was created with are kept (:class:`~kumo.compute.models.InstanceHints`)
for the scheduler: ``group``, ``same_host`` and ``different_host`` (server
UUIDs, one or a list).
"""
from __future__ import annotations

from sqlalchemy import select

from kumo.common.api.errors import BadRequest, NotFound
from kumo.common.auth.context import RequestContext
from kumo.compute import quotas
from kumo.compute.models import Instance, InstanceHints, ServerGroup, ServerGroupMember
from kumo.compute.schemas import is_uuid

#: Policies by the microversion that introduced them.
POLICIES = {"affinity": (2, 1), "anti-affinity": (2, 1), "soft-affinity": (2, 15),
            "soft-anti-affinity": (2, 15)}
#: Hints the scheduler understands (others are kept and ignored, as nova does).
HINT_LISTS = ("same_host", "different_host")


def not_found(ident: str) -> NotFound:
    """Nova's 404 for a group."""
    return NotFound(f"Instance group {ident} could not be found.")


async def get(session, ident: str) -> ServerGroup:
    """The group with UUID ``ident``; 404 when there is none."""
    group = (await session.execute(select(ServerGroup).where(ServerGroup.uuid == ident))).scalar_one_or_none()
    if group is None:
        raise not_found(ident)
    return group


async def members(session, group_ids: list[int]) -> dict[int, list[str]]:
    """group id -> UUIDs of its live members, in the order they joined."""
    rows = (await session.execute(select(ServerGroupMember.group_id, ServerGroupMember.instance_uuid).join(
        Instance, Instance.uuid == ServerGroupMember.instance_uuid).where(
        ServerGroupMember.group_id.in_(group_ids), Instance.deleted.is_(False)).order_by(
        ServerGroupMember.id))).all()
    out: dict[int, list[str]] = {g: [] for g in group_ids}
    for group_id, uuid in rows:
        out[group_id].append(uuid)
    return out


async def groups_of(session, instance_uuids: list[str]) -> dict[str, list[str]]:
    """instance UUID -> UUIDs of its groups (at most one), for ``server_groups`` in server bodies."""
    rows = (await session.execute(select(ServerGroupMember.instance_uuid, ServerGroup.uuid).join(
        ServerGroup, ServerGroup.id == ServerGroupMember.group_id).where(
        ServerGroupMember.instance_uuid.in_(instance_uuids)))).all()
    out: dict[str, list[str]] = {u: [] for u in instance_uuids}
    for inst, group in rows:
        out[inst].append(group)
    return out


def parse_hints(value) -> dict:
    """``os:scheduler_hints``: an object; ``group`` a UUID, ``same_host`` / ``different_host`` a
    UUID or a list of them; 400 otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field/attribute os:scheduler_hints. Value: {value}. "
                         f"{value!r} is not of type 'object'")
    hints = dict(value)
    if "group" in hints and not (isinstance(hints["group"], str) and is_uuid(hints["group"])):
        raise BadRequest(f"Invalid input for field/attribute group. Value: {hints['group']}. "
                         f"{hints['group']!r} is not a 'uuid'")
    for key in HINT_LISTS:
        if key in hints:
            items = hints[key] if isinstance(hints[key], list) else [hints[key]]
            if not all(isinstance(i, str) and is_uuid(i) for i in items):
                raise BadRequest(f"Invalid input for field/attribute {key}. Value: {hints[key]}. "
                                 "must be a server UUID or a list of them")
            hints[key] = items
    return hints


async def attach(session, ctx: RequestContext, hints: dict, instance_uuids: list[str]) -> None:
    """Record new servers' hints and put them in their ``group`` (inside the create transaction):
    400 unknown group (or another project's), 403 past the server_group_members quota."""
    if not hints:
        return
    group_uuid = hints.get("group")
    if group_uuid:
        group = (await session.execute(select(ServerGroup).where(
            ServerGroup.uuid == group_uuid))).scalar_one_or_none()
        if group is None or group.project_id != ctx.project_id:
            raise BadRequest(f"Invalid server group {group_uuid}: Instance group {group_uuid} "
                             "could not be found.")
        current = (await members(session, [group.id]))[group.id]
        stale = (await session.execute(select(ServerGroupMember).where(
            ServerGroupMember.group_id == group.id,
            ServerGroupMember.instance_uuid.not_in(current)))).scalars().all()
        for row in stale:  # members deleted since: their seats are free again
            await session.delete(row)
        await session.flush()
        await quotas.check_group_members(session, group, len(instance_uuids))
        for uuid in instance_uuids:
            session.add(ServerGroupMember(group_id=group.id, instance_uuid=uuid))
    for uuid in instance_uuids:
        session.add(InstanceHints(instance_uuid=uuid, hints=hints))
