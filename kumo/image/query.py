"""Listing images: query parameters, visibility, filters, sorting and keyset pages.

Implements the query string of Image API v2 "List images" (``GET /v2/images``):
``limit`` (default 25, at most 1000), ``marker``, ``sort_key``/``sort_dir``
(repeatable) or ``sort=key[:dir],...``, filters ``id``, ``name``, ``status``,
``visibility`` (``public``, ``private``, ``shared``, ``community``, ``all``),
``owner``, ``checksum``, ``disk_format``, ``container_format`` (each exact or
``in:a,b``), ``tag`` (repeatable, all must match), ``size`` (exact) and
``size_min``/``size_max`` (bytes), ``protected``, ``os_hidden``, ``created_at``/``updated_at``
(``gt|gte|lt|lte|eq|neq:<ISO 8601>``), ``member_status`` (``accepted`` by
default, ``pending``, ``rejected``, ``all``: which shared images the caller is a
member of show) and any other name as an exact extra-property match. Bad values
are 400. Which images a caller may list is :func:`kumo.image.policy.listed`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.sql import ColumnElement, Select

from kumo.common.api.body import parse_bool, parse_int
from kumo.common.api.errors import BadRequest
from kumo.common.auth.context import RequestContext
from kumo.image import policy
from kumo.image.models import Image, ImageProperty, ImageTag
from kumo.image.schemas import STATUSES

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000

#: Sort keys -> (column, value standing for NULL so that NULLs order and compare consistently).
SORT_KEYS = {
    "name": (Image.name, ""), "status": (Image.status, None),
    "container_format": (Image.container_format, ""), "disk_format": (Image.disk_format, ""),
    "size": (Image.size, -1), "virtual_size": (Image.virtual_size, -1), "id": (Image.id, None),
    "created_at": (Image.created_at, None), "updated_at": (Image.updated_at, None),
    "min_disk": (Image.min_disk, None), "min_ram": (Image.min_ram, None),
    "visibility": (Image.visibility, None), "owner": (Image.owner, ""),
}
#: Filters on a column, with an optional ``in:`` list.
COLUMN_FILTERS = {"id": Image.id, "name": Image.name, "status": Image.status, "owner": Image.owner,
                  "checksum": Image.checksum, "disk_format": Image.disk_format,
                  "container_format": Image.container_format}
TIME_FILTERS = {"created_at": Image.created_at, "updated_at": Image.updated_at}
TIME_OPS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__", "eq": "__eq__", "neq": "__ne__"}
PAGING = {"limit", "marker", "sort_key", "sort_dir", "sort"}
VISIBILITY_FILTERS = ("public", "private", "shared", "community", "all")
MEMBER_STATUSES = ("accepted", "pending", "rejected", "all")


@dataclass
class ListQuery:
    """A parsed ``GET /v2/images`` query."""

    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    visibility: str | None = None
    member_status: str | None = None
    os_hidden: bool | None = None
    conditions: list[ColumnElement] = field(default_factory=list)


def _time(name: str, raw: str) -> ColumnElement:
    op, sep, stamp = raw.partition(":")
    if not sep or op not in TIME_OPS:
        op, stamp = "eq", raw
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid time format for {name}: {raw!r}") from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return getattr(TIME_FILTERS[name], TIME_OPS[op])(when)


def _values(raw: str) -> list[str]:
    if raw.startswith("in:"):
        return raw[3:].split(",")
    return [raw]


def _sort_pairs(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    keys = [v for k, v in params if k == "sort_key"]
    dirs = [v for k, v in params if k == "sort_dir"]
    sorts = [v for k, v in params if k == "sort"]
    if sorts and (keys or dirs):
        raise BadRequest("The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'")
    pairs: list[tuple[str, str]] = []
    if sorts:
        for item in ",".join(sorts).split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key.strip(), direction.strip() or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("The number of sort_dir values must match the number of sort_key values")
        keys = keys or ["created_at"]
        dirs = dirs if len(dirs) > 1 else dirs * len(keys) or ["desc"] * len(keys)
        pairs = list(zip(keys, dirs))
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It should be one of the following: "
                             f"{', '.join(SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
    return pairs


def parse(params: list[tuple[str, str]]) -> ListQuery:
    """Parse the query string items (repeated names allowed); 400 on a bad value."""
    q = ListQuery(sort=_sort_pairs(params))
    for name, raw in params:
        if name == "limit":
            q.limit = min(parse_int("limit", raw), MAX_LIMIT)
        elif name == "marker":
            q.marker = raw
        elif name in PAGING:
            continue
        elif name == "visibility":
            if raw not in VISIBILITY_FILTERS:
                raise BadRequest(f"Invalid visibility value: {raw}")
            q.visibility = raw
        elif name == "os_hidden":
            q.os_hidden = parse_bool(name, raw)
        elif name == "protected":
            q.conditions.append(Image.protected == parse_bool(name, raw))
        elif name == "member_status":
            if raw not in MEMBER_STATUSES:
                raise BadRequest(f"Invalid status: {raw}")
            q.member_status = raw
        elif name == "status":
            values = _values(raw)
            for v in values:
                if v not in STATUSES:
                    raise BadRequest(f"Invalid status value: {v}")
            q.conditions.append(Image.status.in_(values))
        elif name in COLUMN_FILTERS:
            q.conditions.append(COLUMN_FILTERS[name].in_(_values(raw)))
        elif name in TIME_FILTERS:
            q.conditions.append(_time(name, raw))
        elif name == "size":
            q.conditions.append(Image.size == parse_int(name, raw))
        elif name == "size_min":
            q.conditions.append(Image.size >= parse_int(name, raw))
        elif name == "size_max":
            q.conditions.append(Image.size <= parse_int(name, raw))
        elif name == "tag":
            q.conditions.append(exists().where(ImageTag.image_id == Image.id, ImageTag.value == raw))
        else:
            q.conditions.append(exists().where(ImageProperty.image_id == Image.id,
                                               ImageProperty.name == name, ImageProperty.value == raw))
    return q


def _sort_columns(q: ListQuery) -> list[tuple[ColumnElement, object, str, str]]:
    pairs = list(q.sort)
    last_dir = pairs[-1][1]
    for tie in ("created_at", "id"):
        if tie not in {k for k, _ in pairs}:
            pairs.append((tie, last_dir))
    out = []
    for key, direction in pairs:
        column, null_as = SORT_KEYS[key]
        expr = column if null_as is None else func.coalesce(column, null_as)
        out.append((expr, null_as, key, direction))
    return out


def statement(ctx: RequestContext, q: ListQuery, marker: Image | None = None) -> Select:
    """The SELECT for one page (``q.limit + 1`` rows, to tell whether another page follows)."""
    stmt = select(Image).where(policy.listed(ctx, q.visibility, q.member_status), *q.conditions)
    stmt = stmt.where(Image.os_hidden == bool(q.os_hidden))
    columns = _sort_columns(q)
    if marker is not None:
        stmt = stmt.where(_after(columns, marker))
    order = [expr.asc() if d == "asc" else expr.desc() for expr, _, _, d in columns]
    return stmt.order_by(*order).limit(q.limit + 1)


def _after(columns, marker: Image) -> ColumnElement:
    """Rows strictly after ``marker`` in the sort order (keyset pagination)."""
    clauses = []
    for i, (expr, null_as, key, direction) in enumerate(columns):
        value = getattr(marker, key)
        if value is None:
            value = null_as
        equal_before = [
            prev_expr == (getattr(marker, prev_key) if getattr(marker, prev_key) is not None else prev_null)
            for prev_expr, prev_null, prev_key, _ in columns[:i]]
        step = expr > value if direction == "asc" else expr < value
        clauses.append(and_(*equal_before, step))
    return or_(*clauses)
