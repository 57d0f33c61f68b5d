"""Namespaces of the metadata definitions catalog (Image API v2 "Metadata definition namespaces").

A namespace name is unique across all projects (409 on create or rename onto
a taken one). ``visibility`` is ``public`` or ``private`` (default), ``protected``
(default false) forbids deleting it or anything in it (403). The owner is the
creator's project unless an admin gives ``owner``. A create body may carry
``properties``, ``objects``, ``tags`` and ``resource_type_associations``, all
made in one transaction (any failure keeps nothing). An update (PUT) replaces
``namespace``, ``display_name``, ``description``, ``visibility`` and
``protected`` (absent ones return to their defaults), keeps ``owner`` unless
given, and leaves the contents alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict
from kumo.common.auth.context import RequestContext
from kumo.common.db import Database, utcnow
from kumo.image.metadefs import validate
from kumo.image.metadefs.common import (check_unprotected, keyset, load_namespace, ordered, paging,
                                        require_admin, visible, writable_namespace, writing)
from kumo.image.metadefs.definitions import add_object, add_property
from kumo.image.metadefs.resource_types import associate
from kumo.image.metadefs.tags import add_tags
from kumo.image.models import (MetadefAssociation, MetadefNamespace, MetadefObject, MetadefProperty,
                               MetadefResourceType, MetadefTag)

SORT_KEYS = ("created_at", "updated_at", "namespace")
VISIBILITIES = ("public", "private")


@dataclass
class NamespaceDetail:
    """A namespace with its contents; ``prefix`` is put before property names when shown."""

    namespace: MetadefNamespace
    objects: list[MetadefObject] = field(default_factory=list)
    properties: list[MetadefProperty] = field(default_factory=list)
    tags: list[MetadefTag] = field(default_factory=list)
    prefix: str | None = None


async def _taken(s: AsyncSession, name: str) -> bool:
    return await s.scalar(select(exists().where(MetadefNamespace.namespace == name)))


def _conflict(name: str) -> Conflict:
    return Conflict(f"Metadata definition namespace={name} already exists.")


class Namespaces:
    """Namespaces in ``db``."""

    def __init__(self, db: Database):
        self.db = db

    async def list(self, ctx: RequestContext, params: dict[str, str]) -> tuple[list[MetadefNamespace], bool]:
        """One page of visible namespaces and whether more follow.

        ``params``: ``limit`` (25, at most 1000), ``marker`` (a namespace name;
        404 if unknown), ``sort_key`` (created_at, updated_at, namespace),
        ``sort_dir`` (desc), ``visibility`` (public, private) and
        ``resource_types`` (comma-separated names: namespaces associated with any).
        """
        limit, marker, sort_key, sort_dir = paging(params, SORT_KEYS)
        column = getattr(MetadefNamespace, sort_key)
        stmt = select(MetadefNamespace).where(visible(ctx))
        if params.get("visibility"):
            if params["visibility"] not in VISIBILITIES:
                raise BadRequest(f"Invalid visibility value: {params['visibility']}")
            stmt = stmt.where(MetadefNamespace.visibility == params["visibility"])
        if params.get("resource_types"):
            names = [n.strip() for n in params["resource_types"].split(",") if n.strip()]
            stmt = stmt.where(exists().where(
                MetadefAssociation.namespace_id == MetadefNamespace.id,
                MetadefAssociation.resource_type_id == MetadefResourceType.id,
                MetadefResourceType.name.in_(names)))
        async with self.db.session() as s:
            if marker:
                after = await load_namespace(s, ctx, marker)
                stmt = stmt.where(keyset(column, MetadefNamespace.id, getattr(after, sort_key),
                                         after.id, sort_dir))
            stmt = stmt.order_by(*ordered(column, MetadefNamespace.id, sort_dir)).limit(limit + 1)
            rows = list(await s.scalars(stmt))
        return rows[:limit], len(rows) > limit

    async def create(self, ctx: RequestContext, body) -> NamespaceDetail:
        """Create a namespace (admin) from a "Create namespace" body, with any contents it holds."""
        require_admin(ctx, "add_metadef_namespace")
        values = validate.namespace_body(body)
        name = values["namespace"]
        now = utcnow()
        async with writing(self.db, _conflict(name).message) as s:
            if await _taken(s, name):
                raise _conflict(name)
            ns = MetadefNamespace(
                namespace=name, display_name=values.get("display_name"),
                description=values.get("description"), visibility=values.get("visibility") or "private",
                protected=bool(values.get("protected")), owner=values.get("owner") or ctx.project_id,
                created_at=now, updated_at=now, associations=[])
            s.add(ns)
            await s.flush()
            detail = NamespaceDetail(ns)
            for prop_name, definition in values["properties"].items():
                detail.properties.append(await add_property(s, ns, prop_name, definition))
            for obj in values["objects"]:
                detail.objects.append(await add_object(s, ns, obj))
            detail.tags = await add_tags(s, ns, values["tags"])
            await associate(s, ns, values["resource_type_associations"])
        return detail

    async def get(self, ctx: RequestContext, name: str, resource_type: str | None = None) -> NamespaceDetail:
        """The namespace with its objects, properties and tags.

        With ``resource_type``, the prefix of that association (if any) is
        applied to property names; an unassociated type is ignored.
        """
        async with self.db.session() as s:
            ns = await load_namespace(s, ctx, name)
            detail = NamespaceDetail(ns)
            for model, attr in ((MetadefObject, "objects"), (MetadefProperty, "properties"),
                                (MetadefTag, "tags")):
                rows = await s.scalars(select(model).where(model.namespace_id == ns.id)
                                       .order_by(model.name))
                setattr(detail, attr, list(rows))
        if resource_type:
            detail.prefix = next((a.prefix for a in ns.associations if a.name == resource_type), None)
        return detail

    async def update(self, ctx: RequestContext, name: str, body) -> MetadefNamespace:
        """Replace the namespace's attributes with an "Update namespace" body (admin)."""
        values = validate.namespace_body(body)
        new_name = values["namespace"]
        async with writing(self.db, _conflict(new_name).message) as s:
            ns = await writable_namespace(s, ctx, name, "modify_metadef_namespace")
            if new_name != name and await _taken(s, new_name):
                raise _conflict(new_name)
            ns.namespace = new_name
            ns.display_name = values.get("display_name")
            ns.description = values.get("description")
            ns.visibility = values.get("visibility") or "private"
            ns.protected = bool(values.get("protected"))
            if values.get("owner"):
                ns.owner = values["owner"]
            ns.updated_at = utcnow()
            return ns

    async def delete(self, ctx: RequestContext, name: str) -> None:
        """Delete the namespace and everything in it (admin); 403 if protected."""
        async with self.db.session() as s:
            ns = await writable_namespace(s, ctx, name, "delete_metadef_namespace")
            check_unprotected(ns, "the namespace")
            await s.delete(ns)
