"""Placement constraints of one instance: availability zone, server group, same/different host.

Nova's filters and weighers, reduced to kumo's needs:

- AvailabilityZoneFilter: with a requested zone, only the zone's hosts
  (:func:`kumo.compute.aggregates.hosts_of_zone`);
- ServerGroupAffinityFilter / ServerGroupAntiAffinityFilter: ``affinity``
  keeps only the host of the group's other placed members (any host for the
  first one); ``anti-affinity`` refuses hosts that already hold
  ``max_server_per_host`` (default 1) members;
- SameHostFilter / DifferentHostFilter: the ``same_host`` /
  ``different_host`` hints (server UUIDs);
- AggregateInstanceExtraSpecsFilter: a flavor extra spec
  ``aggregate_instance_extra_specs:<key>=<value>`` keeps the hosts of an
  aggregate whose metadata ``<key>`` holds ``<value>`` (one of its
  comma-separated values);
- ServerGroupSoftAffinityWeigher / SoftAntiAffinityWeigher: soft policies
  only order the hosts (most / fewest members first).

:func:`load` reads everything in the caller's session, so the claim
transaction can check the chosen host again against fresh data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from kumo.compute.aggregates import hosts_of_zone
from kumo.compute.models import (Aggregate, AggregateHost, Instance, InstanceHints, ServerGroup,
                                 ServerGroupMember)


@dataclass
class Constraints:
    """What one instance requires of its host."""

    #: Hosts of the requested zone (None: no zone asked for).
    zone_hosts: set[str] | None = None
    zone: str | None = None
    policy: str | None = None
    max_per_host: int = 1
    #: host -> how many other members of the instance's group are on it.
    group_hosts: dict[str, int] = field(default_factory=dict)
    same_host: set[str] | None = None
    different_host: set[str] = field(default_factory=set)
    #: aggregate metadata the flavor asks for, and host -> {key: values} of its aggregates.
    wanted_meta: dict[str, str] = field(default_factory=dict)
    host_meta: dict[str, dict[str, set[str]]] = field(default_factory=dict)


async def _hosts_of(session, uuids: list[str], exclude: str) -> list[str]:
    rows = (await session.execute(select(Instance.host).where(
        Instance.uuid.in_(uuids), Instance.uuid != exclude, Instance.deleted.is_(False),
        Instance.host.is_not(None)))).scalars().all()
    return list(rows)


async def load(session, inst: Instance) -> Constraints:
    """The constraints of ``inst`` from its zone, group membership and stored hints."""
    c = Constraints()
    if inst.availability_zone:
        c.zone = inst.availability_zone
        c.zone_hosts = await hosts_of_zone(session, inst.availability_zone) or set()
    row = (await session.execute(select(ServerGroup).join(
        ServerGroupMember, ServerGroupMember.group_id == ServerGroup.id).where(
        ServerGroupMember.instance_uuid == inst.uuid))).scalar_one_or_none()
    if row is not None:
        c.policy = row.policy
        c.max_per_host = int((row.rules or {}).get("max_server_per_host", 1))
        uuids = (await session.execute(select(ServerGroupMember.instance_uuid).where(
            ServerGroupMember.group_id == row.id))).scalars().all()
        for host in await _hosts_of(session, list(uuids), inst.uuid):
            c.group_hosts[host] = c.group_hosts.get(host, 0) + 1
    scope = "aggregate_instance_extra_specs:"
    specs = (inst.flavor or {}).get("extra_specs") or {}
    c.wanted_meta = {k[len(scope):]: str(v) for k, v in specs.items() if k.startswith(scope)}
    if c.wanted_meta:
        for host, meta in (await session.execute(select(AggregateHost.host, Aggregate.meta).join(
                Aggregate, Aggregate.id == AggregateHost.aggregate_id))).all():
            mine = c.host_meta.setdefault(host, {})
            for key, value in (meta or {}).items():
                mine.setdefault(key, set()).update(v.strip() for v in str(value).split(","))
    hints = (await session.execute(select(InstanceHints.hints).where(
        InstanceHints.instance_uuid == inst.uuid))).scalar_one_or_none() or {}
    if hints.get("same_host"):
        c.same_host = set(await _hosts_of(session, hints["same_host"], inst.uuid))
    if hints.get("different_host"):
        c.different_host = set(await _hosts_of(session, hints["different_host"], inst.uuid))
    return c


def unconstrained(c: Constraints) -> bool:
    """True when ``c`` refuses no host and orders none (no zone, group, hints or aggregate specs)."""
    return (c.zone_hosts is None and c.policy is None and c.same_host is None and not c.different_host
            and not c.wanted_meta)


def refuse(c: Constraints, host: str) -> str | None:
    """None if ``host`` meets the constraints, else the name of the filter that refuses it."""
    if c.zone_hosts is not None and host not in c.zone_hosts:
        return "AvailabilityZoneFilter"
    if c.policy == "affinity" and c.group_hosts and host not in c.group_hosts:
        return "ServerGroupAffinityFilter"
    if c.policy == "anti-affinity" and c.group_hosts.get(host, 0) >= c.max_per_host:
        return "ServerGroupAntiAffinityFilter"
    if c.same_host is not None and host not in c.same_host:
        return "SameHostFilter"
    if host in c.different_host:
        return "DifferentHostFilter"
    meta = c.host_meta.get(host, {})
    if any(value not in meta.get(key, ()) for key, value in c.wanted_meta.items()):
        return "AggregateInstanceExtraSpecsFilter"
    return None


def apply(c: Constraints, hosts: list, report: str) -> tuple[list, str]:
    """The hosts (anything with ``.host``) that meet ``c``, and the report with what was removed."""
    if unconstrained(c):
        return hosts, report
    kept, removed = [], {}
    for hs in hosts:
        why = refuse(c, hs.host)
        if why:
            removed[why] = removed.get(why, 0) + 1
        else:
            kept.append(hs)
    extra = [f"{name} removed {count}" for name, count in removed.items()]
    return kept, "; ".join([report] + extra) if extra else report


def prefer(c: Constraints, hosts: list) -> list:
    """Weighed hosts reordered for a soft policy (stable: the RAM order breaks ties)."""
    if c.policy == "soft-affinity":
        return sorted(hosts, key=lambda h: -c.group_hosts.get(h.host, 0))
    if c.policy == "soft-anti-affinity":
        return sorted(hosts, key=lambda h: c.group_hosts.get(h.host, 0))
    return hosts
