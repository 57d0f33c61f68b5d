"""Host aggregates and availability zones (nova's aggregate logic, used by the API and the scheduler).

An aggregate is a named set of hosts with metadata. The metadata key
``availability_zone`` makes its hosts an availability zone; a host belongs to
at most one zone, so adding a host (or setting a zone) that would put a host
into two zones is refused. Compute hosts in no zone are in
:data:`DEFAULT_ZONE`; other services (scheduler, conductor) are in
:data:`INTERNAL_ZONE`.
"""
from __future__ import annotations

from sqlalchemy import select

from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.db import utcnow
from kumo.compute.models import Aggregate, AggregateHost, Service

#: nova's ``default_availability_zone``.
DEFAULT_ZONE = "nova"
#: nova's ``internal_service_availability_zone``.
INTERNAL_ZONE = "internal"
ZONE_KEY = "availability_zone"


async def host_zones(session) -> dict[str, str]:
    """host -> availability zone, for every host in an aggregate that names a zone."""
    rows = (await session.execute(select(AggregateHost.host, Aggregate.meta).join(
        Aggregate, Aggregate.id == AggregateHost.aggregate_id))).all()
    zones: dict[str, str] = {}
    for host, meta in rows:
        zone = (meta or {}).get(ZONE_KEY)
        if zone:
            zones[host] = zone
    return zones


async def zone_of(session, host: str) -> str:
    """The availability zone of a compute host (:data:`DEFAULT_ZONE` if no aggregate names one)."""
    return (await host_zones(session)).get(host, DEFAULT_ZONE)


async def hosts_of_zone(session, zone: str) -> set[str] | None:
    """Compute hosts in ``zone``; None when the zone does not exist."""
    zones = await host_zones(session)
    computes = set((await session.execute(select(Service.host).where(
        Service.binary == "nova-compute"))).scalars().all())
    if zone == DEFAULT_ZONE:
        return {h for h in computes if h not in zones}
    members = {h for h, z in zones.items() if z == zone}
    return members or None


async def aggregate_hosts(session, aggregate_id: int) -> list[str]:
    """The hosts of an aggregate, in the order they were added."""
    return list((await session.execute(select(AggregateHost.host).where(
        AggregateHost.aggregate_id == aggregate_id).order_by(AggregateHost.id))).scalars().all())


async def get(session, ident: str) -> Aggregate:
    """The aggregate with integer id (or uuid) ``ident``; 404 "Aggregate X could not be found."."""
    agg = None
    if ident.isdigit():
        agg = await session.get(Aggregate, int(ident))
    if agg is None:
        agg = (await session.execute(select(Aggregate).where(Aggregate.uuid == ident))).scalar_one_or_none()
    if agg is None:
        raise NotFound(f"Aggregate {ident} could not be found.")
    return agg


async def check_name(session, name: str, exclude: int | None = None) -> None:
    """409 "Aggregate X already exists." when another aggregate has ``name``."""
    clash = (await session.execute(select(Aggregate.id).where(Aggregate.name == name))).scalar_one_or_none()
    if clash is not None and clash != exclude:
        raise Conflict(f"Aggregate {name} already exists.")


async def _other_zones(session, host: str, exclude: int) -> set[str]:
    """Zones the host gets from aggregates other than ``exclude``."""
    rows = (await session.execute(select(Aggregate.meta).join(
        AggregateHost, Aggregate.id == AggregateHost.aggregate_id).where(
        AggregateHost.host == host, Aggregate.id != exclude))).scalars().all()
    return {m[ZONE_KEY] for m in rows if (m or {}).get(ZONE_KEY)}


async def check_zone(session, agg: Aggregate, zone: str | None, hosts: list[str], action: str,
                     error=Conflict) -> None:
    """Refuse (``error``) a zone for ``hosts`` of ``agg`` when one of them is already in another
    zone through another aggregate (a host is in one zone only)."""
    if zone is not None and zone == INTERNAL_ZONE:
        raise BadRequest(f"Cannot perform action '{action}' on aggregate {agg.id}. Reason: "
                         f"The availability zone {INTERNAL_ZONE} is reserved for internal services.")
    if zone is None:
        return
    for host in hosts:
        others = await _other_zones(session, host, agg.id)
        if others - {zone}:
            raise error(f"Cannot perform action '{action}' on aggregate {agg.id}. Reason: One or "
                        f"more hosts already in availability zone(s) {sorted(others)}.")


async def add_host(session, agg: Aggregate, host: str) -> None:
    """Put a compute host in the aggregate: 404 unknown host, 409 already there or in another zone."""
    known = (await session.execute(select(Service.id).where(
        Service.host == host, Service.binary == "nova-compute"))).first()
    if known is None:
        raise NotFound(f"Compute host {host} could not be found.")
    hosts = await aggregate_hosts(session, agg.id)
    if host in hosts:
        raise Conflict(f"Aggregate {agg.id} already has host {host}.")
    await check_zone(session, agg, (agg.meta or {}).get(ZONE_KEY), [host], "add_host")
    session.add(AggregateHost(aggregate_id=agg.id, host=host))
    agg.updated_at = utcnow()


async def remove_host(session, agg: Aggregate, host: str) -> None:
    """Take a host out of the aggregate; 404 when it is not in it."""
    row = (await session.execute(select(AggregateHost).where(
        AggregateHost.aggregate_id == agg.id, AggregateHost.host == host))).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Cannot remove host {host} in aggregate {agg.id}: not found.")
    await session.delete(row)
    agg.updated_at = utcnow()


async def set_metadata(session, agg: Aggregate, changes: dict[str, str | None], action: str) -> None:
    """Merge ``changes`` into the metadata (None deletes a key); a zone change is checked against
    the hosts' other aggregates (400)."""
    meta = dict(agg.meta or {})
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    if ZONE_KEY in changes:
        await check_zone(session, agg, meta.get(ZONE_KEY), await aggregate_hosts(session, agg.id),
                         action, error=BadRequest)
    agg.meta = meta
    agg.updated_at = utcnow()
