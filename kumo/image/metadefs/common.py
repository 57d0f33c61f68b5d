"""What every metadefs operation shares: who sees a namespace, who may write, protection, paging.

Policy (glance's defaults): reads are open to any authenticated caller for
public namespaces and to the owning project for private ones (admins see
all); every write (namespaces, objects, properties, tags, associations) needs
the admin role. A namespace the caller cannot see is 404, a write without
admin 403, a delete inside a protected namespace 403.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import delete, false, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from kumo.common.api.body import parse_int
from kumo.common.api.errors import BadRequest, Conflict, Forbidden, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import Database
from kumo.image.models import MetadefNamespace
from kumo.image import policy

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_DIRS = ("asc", "desc")


def require_admin(ctx: RequestContext, action: str) -> None:
    """403 unless rule ``action`` (``add_metadef_namespace``...) allows the caller: admins by
    default (glance's ``metadef_admin``)."""
    policy.authorize(ctx, action)


def visible(ctx: RequestContext) -> ColumnElement:
    """Namespaces ``ctx`` may read: all for admins, else public ones and its project's."""
    if policy.is_admin(ctx):
        return true()
    own = MetadefNamespace.owner == ctx.project_id if ctx.project_id else false()
    return or_(MetadefNamespace.visibility == "public", own)


async def load_namespace(s: AsyncSession, ctx: RequestContext, name: str) -> MetadefNamespace:
    """The namespace called ``name`` if ``ctx`` may see it, else 404."""
    ns = await s.scalar(select(MetadefNamespace).where(MetadefNamespace.namespace == name, visible(ctx)))
    if ns is None:
        raise NotFound(f"Metadata definition namespace={name} was not found.")
    return ns


async def writable_namespace(s: AsyncSession, ctx: RequestContext, name: str,
                             action: str) -> MetadefNamespace:
    """The namespace for a write: 404 if not visible, then 403 without admin."""
    ns = await load_namespace(s, ctx, name)
    require_admin(ctx, action)
    return ns


def check_unprotected(ns: MetadefNamespace, what: str) -> None:
    """403 when deleting ``what`` from (or as) a protected namespace."""
    if ns.protected:
        raise Forbidden(f"Namespace {ns.namespace} is protected: {what} cannot be deleted. "
                        "Set its 'protected' attribute to false first.")


def paging(params: dict[str, str], sort_keys: tuple[str, ...], default_key: str = "created_at"
           ) -> tuple[int, str | None, str, str]:
    """``(limit, marker, sort_key, sort_dir)`` from a query; 400 for bad values.

    ``limit`` defaults to 25 and is capped at 1000; ``sort_dir`` defaults to ``desc``.
    """
    raw = params.get("limit")
    limit = DEFAULT_LIMIT if raw in (None, "") else min(parse_int("limit", raw), MAX_LIMIT)
    sort_key = params.get("sort_key") or default_key
    if sort_key not in sort_keys:
        raise BadRequest(f"Invalid sort key: {sort_key}. It should be one of: {', '.join(sort_keys)}.")
    sort_dir = params.get("sort_dir") or "desc"
    if sort_dir not in SORT_DIRS:
        raise BadRequest(f"Invalid sort direction: {sort_dir}. It should be asc or desc.")
    return limit, params.get("marker") or None, sort_key, sort_dir


def keyset(column, id_column, marker_value, marker_id, sort_dir: str) -> ColumnElement:
    """Rows after the marker row in ``(column, id)`` order ``sort_dir`` (keyset pagination)."""
    if sort_dir == "asc":
        return or_(column > marker_value, (column == marker_value) & (id_column > marker_id))
    return or_(column < marker_value, (column == marker_value) & (id_column < marker_id))


def ordered(column, id_column, sort_dir: str) -> list:
    return [column.asc(), id_column.asc()] if sort_dir == "asc" else [column.desc(), id_column.desc()]


@asynccontextmanager
async def writing(db: Database, conflict: str) -> AsyncIterator[AsyncSession]:
    """A write transaction; a unique-name race lost at commit is 409 ``conflict``, nothing kept."""
    try:
        async with db.session() as s:
            yield s
    except IntegrityError:
        raise Conflict(conflict) from None


# --- named children of a namespace (objects, properties, tags) -----------------------------------

async def find_child(s: AsyncSession, model, ns: MetadefNamespace, name: str):
    """The ``model`` row called ``name`` in ``ns``, or None."""
    return await s.scalar(select(model).where(model.namespace_id == ns.id, model.name == name))


async def get_child(s: AsyncSession, model, ns: MetadefNamespace, name: str, kind: str):
    """The ``model`` row called ``name`` in ``ns``; 404 naming ``kind`` if there is none."""
    row = await find_child(s, model, ns, name)
    if row is None:
        raise NotFound(f"Metadata definition {kind}={name} was not found in namespace={ns.namespace}.")
    return row


async def ensure_free(s: AsyncSession, model, ns: MetadefNamespace, name: str, kind: str) -> None:
    """409 if ``ns`` already has a ``model`` row called ``name``."""
    if await find_child(s, model, ns, name) is not None:
        raise Conflict(f"A metadata definition {kind} with name={name} already exists "
                       f"in namespace={ns.namespace}.")


async def delete_children(s: AsyncSession, model, ns: MetadefNamespace) -> None:
    await s.execute(delete(model).where(model.namespace_id == ns.id))


def no_duplicates(names: list[str], kind: str) -> None:
    """409 when a request names the same ``kind`` twice."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise Conflict(f"Duplicate metadata definition {kind} name={name} in the request.")
        seen.add(name)


class NamespaceChildren:
    """The named rows of one kind inside namespaces (objects, properties, tags) in ``db``.

    A subclass sets ``model``, ``kind`` (``object``...), ``plural`` (``objects``...) and the
    policy names of its deletes (``delete_action``, ``delete_all_action``). Reads 404 when the
    namespace is not visible or the row is unknown; deletes 403 in a protected namespace.
    """

    model: type
    kind: str
    plural: str
    delete_action: str
    delete_all_action: str

    def __init__(self, db: Database):
        self.db = db

    async def get(self, ctx: RequestContext, ns_name: str, name: str):
        async with self.db.session() as s:
            ns = await load_namespace(s, ctx, ns_name)
            return await get_child(s, self.model, ns, name, self.kind)

    async def _renaming(self, s: AsyncSession, ctx: RequestContext, ns_name: str, name: str, new_name: str,
                        action: str):
        """The row ``name`` of a writable namespace about to be called ``new_name`` (409 if taken)."""
        ns = await writable_namespace(s, ctx, ns_name, action)
        row = await get_child(s, self.model, ns, name, self.kind)
        if new_name != name:
            await ensure_free(s, self.model, ns, new_name, self.kind)
        return row

    async def delete(self, ctx: RequestContext, ns_name: str, name: str) -> None:
        async with self.db.session() as s:
            ns = await writable_namespace(s, ctx, ns_name, self.delete_action)
            row = await get_child(s, self.model, ns, name, self.kind)
            check_unprotected(ns, f"{self.kind} {name}")
            await s.delete(row)

    async def delete_all(self, ctx: RequestContext, ns_name: str) -> None:
        async with self.db.session() as s:
            ns = await writable_namespace(s, ctx, ns_name, self.delete_all_action)
            check_unprotected(ns, f"its {self.plural}")
            await delete_children(s, self.model, ns)
