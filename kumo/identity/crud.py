"""Row helpers shared by the identity services: the "get, list, delete one row" steps every
keystone resource repeats.

Errors: :func:`get_or_404` and the helpers built on it raise NotFound (404) with keystone's
message ``Could not find <kind>: <id>.`` (Identity API v3, "Errors" in the API reference).
"""
from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import NotFound
from kumo.common.db import Database

R = TypeVar("R")


def not_found(kind: str, ident: str) -> NotFound:
    """keystone's 404: ``Could not find <kind>: <ident>.``"""
    return NotFound(f"Could not find {kind}: {ident}.")


async def get_or_404(db: AsyncSession, model: type[R], ident: Any, kind: str) -> R:
    """The ``model`` row with primary key ``ident`` in session ``db``; NotFound(kind, ident) if none."""
    row = await db.get(model, ident)
    if row is None:
        raise not_found(kind, ident)
    return row


async def fetch(database: Database, model: type[R], ident: Any, kind: str) -> R:
    """:func:`get_or_404` in a session of its own."""
    async with database.session() as db:
        return await get_or_404(db, model, ident, kind)


def where_equal(query, model, filters: dict[str, Any]):
    """``query`` narrowed to rows whose column ``name`` equals ``value`` for every filter whose
    value is not None (None means "not filtered")."""
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(model, name) == value)
    return query


async def list_rows(database: Database, model: type[R], filters: dict[str, Any] | None = None,
                    order_by=None) -> list[R]:
    """Rows of ``model`` matching ``filters`` (see :func:`where_equal`), ordered by ``order_by``
    (a column or a tuple of columns; default the ``id`` column)."""
    order = (model.id,) if order_by is None else order_by if isinstance(order_by, tuple) else (order_by,)
    query = where_equal(select(model).order_by(*order), model, filters or {})
    async with database.session() as db:
        return list((await db.scalars(query)).all())


async def add_row(database: Database, row: R) -> R:
    """Insert ``row`` (committed when the session closes) and return it."""
    async with database.session() as db:
        db.add(row)
    return row


async def delete_or_404(database: Database, model: type, ident: Any, kind: str) -> None:
    """Delete the ``model`` row ``ident``; NotFound(kind, ident) if there is none."""
    async with database.session() as db:
        await db.delete(await get_or_404(db, model, ident, kind))


def merge_extras(row, data) -> None:
    """Add the extra attributes of an update body (``data.extras()``) to ``row.extra``."""
    extras = data.extras()
    if extras:
        row.extra = {**(row.extra or {}), **extras}
