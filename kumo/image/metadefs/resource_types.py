"""Resource types and namespace associations (Image API v2 "Metadata definition resource types").

``STANDARD`` resource types are registered at start (idempotent) and marked
protected. Associating a namespace with an unknown resource type name
registers that type, as glance does; associating it twice is 409. Removing an
association from a protected namespace is 403, an absent association 404.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import Database, utcnow
from kumo.image.metadefs import validate
from kumo.image.metadefs.common import (check_unprotected, load_namespace, no_duplicates,
                                        writable_namespace, writing)
from kumo.image.models import MetadefAssociation, MetadefNamespace, MetadefResourceType

#: The resource types of the OpenStack services whose metadata the catalog describes.
STANDARD = ("OS::Glance::Image", "OS::Cinder::Volume", "OS::Cinder::Volumetype", "OS::Nova::Flavor",
            "OS::Nova::Aggregate", "OS::Nova::Server", "OS::Trove::Instance")


async def resource_type(s: AsyncSession, name: str) -> MetadefResourceType:
    """The resource type called ``name``, registered (unprotected) if new."""
    rt = await s.scalar(select(MetadefResourceType).where(MetadefResourceType.name == name))
    if rt is None:
        now = utcnow()
        rt = MetadefResourceType(name=name, protected=False, created_at=now, updated_at=now)
        s.add(rt)
        await s.flush()
    return rt


async def associate(s: AsyncSession, ns: MetadefNamespace, values: list[dict]) -> list[MetadefAssociation]:
    """Associate ``ns`` with each ``{"name", "prefix", "properties_target"}``; 409 if already."""
    no_duplicates([v["name"] for v in values], "resource type association")
    made = []
    for v in values:
        rt = await resource_type(s, v["name"])
        if await s.get(MetadefAssociation, (ns.id, rt.id)) is not None:
            raise Conflict(f"Resource type {rt.name} is already associated with namespace={ns.namespace}.")
        now = utcnow()
        assoc = MetadefAssociation(namespace_id=ns.id, resource_type_id=rt.id, prefix=v["prefix"],
                                   properties_target=v["properties_target"], created_at=now, updated_at=now)
        assoc.resource_type = rt
        ns.associations.append(assoc)
        made.append(assoc)
    await s.flush()
    return made


class ResourceTypes:
    """Resource types and associations in ``db``."""

    def __init__(self, db: Database):
        self.db = db

    async def seed(self) -> None:
        """Register the ``STANDARD`` resource types that are missing (protected)."""
        async with self.db.session() as s:
            known = set(await s.scalars(select(MetadefResourceType.name)))
            now = utcnow()
            s.add_all(MetadefResourceType(name=name, protected=True, created_at=now, updated_at=now)
                      for name in STANDARD if name not in known)

    async def list(self) -> list[MetadefResourceType]:
        """All resource types, in registration order (any authenticated caller)."""
        async with self.db.session() as s:
            return list(await s.scalars(select(MetadefResourceType).order_by(MetadefResourceType.id)))

    async def associations(self, ctx: RequestContext, ns_name: str) -> list[MetadefAssociation]:
        async with self.db.session() as s:
            ns = await load_namespace(s, ctx, ns_name)
            return list(ns.associations)

    async def create_association(self, ctx: RequestContext, ns_name: str, body) -> MetadefAssociation:
        """Associate the namespace with the resource type of a "Create resource type association" body."""
        values = validate.association_body(body)
        async with writing(self.db, f"Resource type {values['name']} is already associated") as s:
            ns = await writable_namespace(s, ctx, ns_name, "add_metadef_resource_type_association")
            return (await associate(s, ns, [values]))[0]

    async def delete_association(self, ctx: RequestContext, ns_name: str, name: str) -> None:
        async with self.db.session() as s:
            ns = await writable_namespace(s, ctx, ns_name, "remove_metadef_resource_type_association")
            for assoc in ns.associations:
                if assoc.name == name:
                    check_unprotected(ns, f"the association with {name}")
                    ns.associations.remove(assoc)
                    return
        raise NotFound(f"Resource type {name} is not associated with namespace={ns_name}.")
