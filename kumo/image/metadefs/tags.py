"""Tag definitions of a namespace (Image API v2 "Metadata definition tags").

Tag names are unique within a namespace: creating or renaming onto a taken
name is 409. ``POST .../tags`` with ``{"tags": [{"name": ...}, ...]}`` replaces
all the namespace's tags, or adds to them when the ``X-Openstack-Append``
header is true (then an existing name is 409); a name given twice is 409.
Deleting one or all tags of a protected namespace is 403.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.auth.context import RequestContext
from kumo.common.db import utcnow
from kumo.image.metadefs import validate
from kumo.image.metadefs.common import (NamespaceChildren, delete_children, ensure_free, get_child, keyset,
                                        load_namespace, no_duplicates, ordered, paging, writable_namespace,
                                        writing)
from kumo.image.models import MetadefNamespace, MetadefTag

SORT_KEYS = ("name", "created_at", "updated_at")


async def add_tags(s: AsyncSession, ns: MetadefNamespace, names: list[str]) -> list[MetadefTag]:
    """Insert tags called ``names``; 409 for a name given twice or already taken."""
    no_duplicates(names, "tag")
    now = utcnow()
    tags = []
    for name in names:
        await ensure_free(s, MetadefTag, ns, name, "tag")
        tags.append(MetadefTag(namespace_id=ns.id, name=name, created_at=now, updated_at=now))
    s.add_all(tags)
    await s.flush()
    return tags


class Tags(NamespaceChildren):
    """Tag definitions in ``db``."""

    model, kind, plural = MetadefTag, "tag", "tags"
    delete_action, delete_all_action = "delete_metadef_tag", "delete_metadef_tags"

    async def list(self, ctx: RequestContext, ns_name: str, params: dict[str, str]) -> list[MetadefTag]:
        """One page of tags: ``limit``, ``marker`` (a tag name; 404 if unknown), ``sort_key``
        (name, created_at, updated_at; default created_at) and ``sort_dir`` (default desc)."""
        limit, marker, sort_key, sort_dir = paging(params, SORT_KEYS)
        column = getattr(MetadefTag, sort_key)
        async with self.db.session() as s:
            ns = await load_namespace(s, ctx, ns_name)
            stmt = select(MetadefTag).where(MetadefTag.namespace_id == ns.id)
            if marker:
                after = await get_child(s, MetadefTag, ns, marker, "tag")
                stmt = stmt.where(keyset(column, MetadefTag.id, getattr(after, sort_key), after.id, sort_dir))
            stmt = stmt.order_by(*ordered(column, MetadefTag.id, sort_dir)).limit(limit)
            return list(await s.scalars(stmt))

    async def create(self, ctx: RequestContext, ns_name: str, name: str) -> MetadefTag:
        """Create one tag (``POST .../tags/{name}``)."""
        name = validate.tag_name(name)
        async with writing(self.db, f"Tag {name} already exists") as s:
            ns = await writable_namespace(s, ctx, ns_name, "add_metadef_tag")
            return (await add_tags(s, ns, [name]))[0]

    async def create_many(self, ctx: RequestContext, ns_name: str, body, append: bool) -> list[MetadefTag]:
        """Create the tags of a "Create tags" body, replacing the existing ones unless ``append``."""
        names = validate.tags_body(body)
        async with writing(self.db, "A tag of the request already exists") as s:
            ns = await writable_namespace(s, ctx, ns_name, "add_metadef_tags")
            if not append:
                await delete_children(s, MetadefTag, ns)
            return await add_tags(s, ns, names)

    async def update(self, ctx: RequestContext, ns_name: str, name: str, body) -> MetadefTag:
        """Rename a tag with ``{"name": new}``."""
        new_name = validate.tag_body(body)
        async with writing(self.db, f"Tag {new_name} already exists") as s:
            tag = await self._renaming(s, ctx, ns_name, name, new_name, "modify_metadef_tag")
            tag.name, tag.updated_at = new_name, utcnow()
            return tag
