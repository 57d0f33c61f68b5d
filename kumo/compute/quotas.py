"""Compute quotas: effective limits, usage and enforcement (nova's DB quota driver, simplified).

A limit is looked up in this order, the first found wins: a per-user row
(``quotas`` with ``user_id``), a per-project row (``user_id`` ""), the quota
class ``default`` (``quota_classes``), then :data:`DEFAULTS`. ``-1`` means
unlimited. Usage is counted from the rows themselves (no reservations):
instances / cores / ram from the project's (or user's) live instances,
key pairs per user, server groups per project, members per group.

Enforcement runs inside the caller's write transaction: on SQLite every
compute transaction is ``BEGIN IMMEDIATE`` (:func:`kumo.compute.models.open_database`),
so a count and the insert it allows cannot interleave with another
create's, and two racing creates never both pass.
"""
from __future__ import annotations

import base64

from sqlalchemy import delete, func, select

from kumo.common.api.errors import BadRequest, Forbidden
from kumo.compute.models import (Instance, KeyPair, QuotaClass, QuotaLimit, ServerGroup,
                                 ServerGroupMember)

#: nova's default quotas (Compute API "Quota sets"); RAM in MiB, file sizes in bytes.
DEFAULTS = {"instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100,
            "metadata_items": 128, "injected_files": 5, "injected_file_content_bytes": 10240,
            "injected_file_path_bytes": 255, "server_groups": 10, "server_group_members": 10,
            "floating_ips": 10, "fixed_ips": -1, "security_groups": 10,
            "security_group_rules": 20}

#: Resources that exist only up to microversion 2.35 (nova-network proxies).
NETWORK_RESOURCES = ("floating_ips", "fixed_ips", "security_groups", "security_group_rules")
#: Resources that exist only up to microversion 2.56 (personality files).
FILE_RESOURCES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
#: Per-user quotas nova allows (the others are per project only).
USER_RESOURCES = ("instances", "cores", "ram", "key_pairs", "metadata_items", "injected_files",
                  "injected_file_content_bytes", "injected_file_path_bytes", "floating_ips",
                  "fixed_ips", "security_groups", "security_group_rules")

DEFAULT_CLASS = "default"


def resources(version: tuple[int, int]) -> list[str]:
    """The quota resources a request at ``version`` sees (network ones until 2.35, files until 2.56)."""
    out = [r for r in DEFAULTS if r not in NETWORK_RESOURCES and r not in FILE_RESOURCES]
    if version < (2, 36):
        out += list(NETWORK_RESOURCES)
    if version < (2, 57):
        out += list(FILE_RESOURCES)
    return out


async def class_limits(session, class_name: str = DEFAULT_CLASS) -> dict[str, int]:
    """A quota class's limits: :data:`DEFAULTS` overridden by the ``default`` class, then by
    ``class_name``'s own rows."""
    rows = (await session.execute(select(QuotaClass).where(
        QuotaClass.class_name.in_({DEFAULT_CLASS, class_name})))).scalars().all()
    limits = dict(DEFAULTS)
    for row in sorted(rows, key=lambda r: r.class_name != DEFAULT_CLASS):
        limits[row.resource] = row.hard_limit
    return limits


async def limits_for(session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """Effective limits of a project (and of one of its users when ``user_id`` is given)."""
    limits = await class_limits(session)
    users = {""} | ({user_id} if user_id else set())
    rows = (await session.execute(select(QuotaLimit).where(
        QuotaLimit.project_id == project_id, QuotaLimit.user_id.in_(users)))).scalars().all()
    for row in sorted(rows, key=lambda r: r.user_id != ""):
        limits[row.resource] = row.hard_limit
    return limits


async def usage(session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """In-use counts: instances, cores, ram (MiB) of the project's (or the user's) live servers,
    the user's key pairs (0 without a user), the project's server groups."""
    stmt = select(Instance.flavor).where(Instance.project_id == project_id, Instance.deleted.is_(False))
    if user_id:
        stmt = stmt.where(Instance.user_id == user_id)
    flavors = (await session.execute(stmt)).scalars().all()
    keypairs = 0
    if user_id:
        keypairs = (await session.execute(select(func.count()).select_from(KeyPair).where(
            KeyPair.user_id == user_id))).scalar_one()
    groups = (await session.execute(select(func.count()).select_from(ServerGroup).where(
        ServerGroup.project_id == project_id))).scalar_one()
    return {"instances": len(flavors), "cores": sum(int(f.get("vcpus", 0)) for f in flavors),
            "ram": sum(int(f.get("ram", 0)) for f in flavors), "key_pairs": keypairs,
            "server_groups": groups}


def over(limit: int, used: int, requested: int) -> bool:
    """True if ``requested`` more on top of ``used`` passes ``limit`` (-1: unlimited)."""
    return limit >= 0 and used + requested > limit


def exceeded(resources_: list[str], requested: dict[str, int], used: dict[str, int],
             limits: dict[str, int]) -> Forbidden:
    """Nova's 403 for an over-quota create: "Quota exceeded for cores, ram: Requested 2, but
    already used 20 of 20 cores"."""
    first = resources_[0]
    return Forbidden(f"Quota exceeded for {', '.join(resources_)}: Requested {requested[first]}, "
                     f"but already used {used.get(first, 0)} of {limits[first]} {first}")


async def instance_room(session, project_id: str, user_id: str, flavor: dict, min_count: int,
                        max_count: int) -> int:
    """How many servers of ``flavor`` (``min_count``..``max_count``) fit both the project's and the
    user's instances / cores / ram quotas; 403 (nova's message) when not even ``min_count`` do."""
    per = {"instances": 1, "cores": int(flavor.get("vcpus", 0)), "ram": int(flavor.get("ram", 0))}
    fit = max_count
    checks = []
    for scope_user in (None, user_id):
        limits = await limits_for(session, project_id, scope_user)
        used = await usage(session, project_id, scope_user)
        checks.append((limits, used))
        for res, each in per.items():
            if limits[res] >= 0 and each:
                fit = min(fit, max(0, (limits[res] - used[res]) // each))
    if fit >= min_count:
        return fit
    for limits, used in checks:
        overs = [r for r, each in per.items() if over(limits[r], used[r], each * min_count)]
        if overs:
            raise exceeded(overs, {r: per[r] * min_count for r in per}, used, limits)
    raise Forbidden("Quota exceeded for instances")


async def check_metadata(session, project_id: str, count: int) -> None:
    """403 when ``count`` metadata items pass the project's metadata_items quota."""
    limit = (await limits_for(session, project_id))["metadata_items"]
    if over(limit, 0, count):
        raise Forbidden(f"Quota exceeded for metadata_items: Maximum number of metadata items "
                        f"exceeds {limit}")


async def check_injected_files(session, project_id: str, files: list[dict]) -> None:
    """403 when personality ``files`` (``[{"path", "contents" base64}]``) pass the project's
    injected_files count or injected_file_path_bytes / injected_file_content_bytes sizes."""
    if not files:
        return
    limits = await limits_for(session, project_id)
    if over(limits["injected_files"], 0, len(files)):
        raise Forbidden("Personality file limit exceeded")
    for item in files:
        if over(limits["injected_file_path_bytes"], 0, len(item["path"].encode())):
            raise Forbidden(f"Personality file path exceeds maximum "
                            f"{limits['injected_file_path_bytes']}")
        if over(limits["injected_file_content_bytes"], 0, len(base64.b64decode(item["contents"]))):
            raise Forbidden(f"Personality file content exceeds maximum "
                            f"{limits['injected_file_content_bytes']}")


async def check_key_pairs(session, project_id: str, user_id: str) -> None:
    """403 "Quota exceeded, too many key pairs." when the user has no key pair left."""
    limit = (await limits_for(session, project_id, user_id))["key_pairs"]
    used = (await usage(session, project_id, user_id))["key_pairs"]
    if over(limit, used, 1):
        raise Forbidden("Quota exceeded, too many key pairs.")


async def check_server_groups(session, project_id: str, user_id: str) -> None:
    """403 "Quota exceeded, too many server groups." when the project has no group left."""
    limit = (await limits_for(session, project_id, user_id))["server_groups"]
    used = (await usage(session, project_id))["server_groups"]
    if over(limit, used, 1):
        raise Forbidden("Quota exceeded, too many server groups.")


async def check_group_members(session, group: ServerGroup, adding: int) -> None:
    """403 "Quota exceeded, too many servers in group" when ``adding`` more members pass the
    group owner's server_group_members quota."""
    limit = (await limits_for(session, group.project_id))["server_group_members"]
    used = (await session.execute(select(func.count()).select_from(ServerGroupMember).where(
        ServerGroupMember.group_id == group.id))).scalar_one()
    if over(limit, used, adding):
        raise Forbidden("Quota exceeded, too many servers in group")


def parse_limits(body: dict, allowed: list[str]) -> dict[str, int]:
    """Quota values of an update body: integers (or integer strings) >= -1; 400 otherwise."""
    extra = sorted(set(body) - set(allowed))
    if extra:
        listed = ", ".join(repr(k) for k in extra)
        raise BadRequest(f"Additional properties are not allowed ({listed} "
                         f"{'were' if len(extra) > 1 else 'was'} unexpected)")
    out = {}
    for key, value in body.items():
        if isinstance(value, bool):
            value = None
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or not -1 <= value <= 2147483647:
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {body[key]}. "
                             f"{body[key]!r} is not valid under any of the given schemas")
        out[key] = value
    return out


async def set_limits(session, project_id: str, user_id: str | None, values: dict[str, int],
                     force: bool) -> None:
    """Write per-project (or per-user) limits. Without ``force`` a limit under what is in use is
    400 "Quota limit X for R must be greater than or equal to already used and reserved Y."; a
    user's limit above the project's is 400 as well."""
    if user_id:
        bad = sorted(set(values) - set(USER_RESOURCES))
        if bad:
            raise BadRequest(f"Quota for {', '.join(bad)} can only be set per project.")
    used = await usage(session, project_id, user_id or None)
    project = await limits_for(session, project_id) if user_id else None
    for res, value in values.items():
        if not force and value >= 0 and value < used.get(res, 0):
            raise BadRequest(f"Quota limit {value} for {res} must be greater than or equal to "
                             f"already used and reserved {used.get(res, 0)}.")
        if project is not None and project[res] >= 0 and (value < 0 or value > project[res]):
            raise BadRequest(f"Quota limit {value} for {res} must be in the range of -1 and "
                             f"{project[res]}.")
    for res, value in values.items():
        row = (await session.execute(select(QuotaLimit).where(
            QuotaLimit.project_id == project_id, QuotaLimit.user_id == (user_id or ""),
            QuotaLimit.resource == res))).scalar_one_or_none()
        if row is None:
            session.add(QuotaLimit(project_id=project_id, user_id=user_id or "", resource=res,
                                   hard_limit=value))
        else:
            row.hard_limit = value


async def clear_limits(session, project_id: str, user_id: str | None = None) -> None:
    """Drop a project's (every row) or one user's limit overrides: back to the class defaults."""
    stmt = delete(QuotaLimit).where(QuotaLimit.project_id == project_id)
    if user_id:
        stmt = stmt.where(QuotaLimit.user_id == user_id)
    await session.execute(stmt)


async def set_class_limits(session, class_name: str, values: dict[str, int]) -> None:
    """Write a quota class's limits (class ``default`` changes every project's defaults)."""
    for res, value in values.items():
        row = (await session.execute(select(QuotaClass).where(
            QuotaClass.class_name == class_name, QuotaClass.resource == res))).scalar_one_or_none()
        if row is None:
            session.add(QuotaClass(class_name=class_name, resource=res, hard_limit=value))
        else:
            row.hard_limit = value
