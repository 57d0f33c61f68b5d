"""Object and property definitions of a namespace (Image API v2 "Metadata definition objects"
and "Metadata definition properties").

Names are unique within a namespace (409 otherwise); an update replaces the
whole definition and may rename it. Deleting one, or all, from a protected
namespace is 403. See :mod:`kumo.image.metadefs.common` for visibility and policy.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import utcnow
from kumo.image.metadefs import validate
from kumo.image.metadefs.common import (NamespaceChildren, ensure_free, get_child, load_namespace,
                                        writable_namespace, writing)
from kumo.image.models import (MetadefAssociation, MetadefNamespace, MetadefObject, MetadefProperty,
                               MetadefResourceType)


async def add_object(s: AsyncSession, ns: MetadefNamespace, values: dict) -> MetadefObject:
    """Insert an object from :func:`validate.object_body` values; 409 for a taken name."""
    await ensure_free(s, MetadefObject, ns, values["name"], "object")
    now = utcnow()
    obj = MetadefObject(namespace_id=ns.id, created_at=now, updated_at=now, **values)
    s.add(obj)
    await s.flush()
    return obj


async def add_property(s: AsyncSession, ns: MetadefNamespace, name: str, definition: dict) -> MetadefProperty:
    """Insert a property definition; 409 for a taken name."""
    await ensure_free(s, MetadefProperty, ns, name, "property")
    now = utcnow()
    prop = MetadefProperty(namespace_id=ns.id, name=name, schema=definition, created_at=now, updated_at=now)
    s.add(prop)
    await s.flush()
    return prop


async def association_prefix(s: AsyncSession, ns: MetadefNamespace, resource_type: str) -> str | None:
    """The prefix ``ns`` uses for ``resource_type``; 404 when they are not associated."""
    assoc = await s.scalar(
        select(MetadefAssociation).join(MetadefResourceType)
        .where(MetadefAssociation.namespace_id == ns.id, MetadefResourceType.name == resource_type))
    if assoc is None:
        raise NotFound(f"Resource type {resource_type} is not associated with namespace={ns.namespace}.")
    return assoc.prefix


class Objects(NamespaceChildren):
    """Object definitions in ``db``."""

    model, kind, plural = MetadefObject, "object", "objects"
    delete_action, delete_all_action = "delete_metadef_object", "delete_metadef_objects"

    async def list(self, ctx: RequestContext, ns_name: str) -> list[MetadefObject]:
        """The namespace's objects, oldest first."""
        async with self.db.session() as s:
            ns = await load_namespace(s, ctx, ns_name)
            return list(await s.scalars(select(MetadefObject).where(MetadefObject.namespace_id == ns.id)
                                        .order_by(MetadefObject.created_at, MetadefObject.id)))

    async def create(self, ctx: RequestContext, ns_name: str, body) -> MetadefObject:
        """Create an object from a "Create object" body."""
        values = validate.object_body(body)
        async with writing(self.db, f"Object {values['name']} already exists") as s:
            ns = await writable_namespace(s, ctx, ns_name, "add_metadef_object")
            return await add_object(s, ns, values)

    async def update(self, ctx: RequestContext, ns_name: str, name: str, body) -> MetadefObject:
        """Replace the object with an "Update object" body (a new ``name`` renames it)."""
        values = validate.object_body(body)
        async with writing(self.db, f"Object {values['name']} already exists") as s:
            obj = await self._renaming(s, ctx, ns_name, name, values["name"], "modify_metadef_object")
            for key, value in values.items():
                setattr(obj, key, value)
            obj.updated_at = utcnow()
            return obj

class Properties(NamespaceChildren):
    """Property definitions in ``db``."""

    model, kind, plural = MetadefProperty, "property", "properties"
    delete_action, delete_all_action = "remove_metadef_property", "remove_metadef_properties"

    async def list(self, ctx: RequestContext, ns_name: str) -> list[MetadefProperty]:
        """The namespace's properties, by name."""
        async with self.db.session() as s:
            ns = await load_namespace(s, ctx, ns_name)
            return list(await s.scalars(select(MetadefProperty).where(MetadefProperty.namespace_id == ns.id)
                                        .order_by(MetadefProperty.name)))

    async def create(self, ctx: RequestContext, ns_name: str, body) -> MetadefProperty:
        """Create a property from a "Create property" body (``name``, ``title``, ``type`` required)."""
        name, definition = validate.property_body(body)
        async with writing(self.db, f"Property {name} already exists") as s:
            ns = await writable_namespace(s, ctx, ns_name, "add_metadef_property")
            return await add_property(s, ns, name, definition)

    async def get(self, ctx: RequestContext, ns_name: str, name: str,
                  resource_type: str | None = None) -> MetadefProperty:
        """The property ``name``; with ``resource_type``, ``name`` carries that association's prefix.

        404 for an unknown property, an unassociated resource type or a name
        without the expected prefix.
        """
        async with self.db.session() as s:
            ns = await load_namespace(s, ctx, ns_name)
            if resource_type:
                prefix = await association_prefix(s, ns, resource_type)
                if prefix:
                    if not name.startswith(prefix):
                        raise NotFound(f"Property {name} does not start with the prefix '{prefix}' "
                                       f"of resource type {resource_type}.")
                    name = name[len(prefix):]
            return await get_child(s, MetadefProperty, ns, name, "property")

    async def update(self, ctx: RequestContext, ns_name: str, name: str, body) -> MetadefProperty:
        """Replace the definition with an "Update property definition" body (may rename it)."""
        new_name, definition = validate.property_body(body)
        async with writing(self.db, f"Property {new_name} already exists") as s:
            prop = await self._renaming(s, ctx, ns_name, name, new_name, "modify_metadef_property")
            prop.name, prop.schema, prop.updated_at = new_name, definition, utcnow()
            return prop
