"""Database access: one async SQLAlchemy engine per service database.

Each service declares its models on its own ``Base = declarative_base()`` and owns one :class:`Database`. The URL is any async
SQLAlchemy URL: ``sqlite+aiosqlite:///path`` (default), later
``mysql+aiomysql://`` or ``postgresql+asyncpg://``.
"""
from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Callable

from sqlalchemy import DateTime, MetaData, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session


def new_id() -> str:
    """A new resource id: a UUID4 in its dashed hex form."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def isotime(value: datetime | None, micro: bool = False) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (``2026-11-21T10:00:00Z``), or None."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds" if micro else "seconds") + "Z"


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def declarative_base() -> type[DeclarativeBase]:
    """A new declarative base with its own MetaData (one per service database)."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING)
        type_annotation_map = {datetime: DateTime()}

    return Base


class Database:
    """An engine plus session factory for one service's database."""

    def __init__(self, url: str, metadata: MetaData):
        self.url = url
        self.metadata = metadata
        parsed = make_url(url)
        kwargs = {}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        self.engine = create_async_engine(url, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        #: Called (no arguments) after each commit of a session that wrote something.
        self.write_listeners: list[Callable[[], None]] = []
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, sync_session_class=_Session,
                                           info={_DB: self})

    async def create_schema(self) -> None:
        """Create missing tables (the initial schema), and add the columns a newer model has to
        tables an older release made (``ALTER TABLE ... ADD COLUMN``: old rows read NULL)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(self.metadata.create_all)
            await conn.run_sync(_add_missing_columns, self.metadata)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as s:
            async with s.begin():
                yield s

    async def close(self) -> None:
        await self.engine.dispose()


def _add_missing_columns(conn, metadata: MetaData) -> None:
    quote = conn.dialect.identifier_preparer.quote
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                conn.exec_driver_sql(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} "
                                     f"{column.type.compile(conn.dialect)}")


_DB = "kumo.db"
_WROTE = "kumo.wrote"


class _Session(Session):
    """A session that tells its Database's ``write_listeners`` when a write is committed."""


@event.listens_for(_Session, "after_flush")
def _flushed(session, _flush_context) -> None:
    session.info[_WROTE] = True


@event.listens_for(_Session, "do_orm_execute")
def _executed(state) -> None:
    if not state.is_select:  # bulk insert/update/delete through session.execute()
        state.session.info[_WROTE] = True


@event.listens_for(_Session, "after_commit")
def _committed(session) -> None:
    # After the commit: a reader that loaded the old rows before this point
    # saw the generation before the listeners ran, so it cannot pass stale data off as current.
    if session.info.pop(_WROTE, False):
        for listener in list(session.info[_DB].write_listeners):
            listener()


@event.listens_for(_Session, "after_rollback")
def _rolled_back(session) -> None:
    session.info.pop(_WROTE, None)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
