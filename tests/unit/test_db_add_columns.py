"""Database.create_schema adds the columns a newer model has to a table an older release made."""
from __future__ import annotations

import sqlite3

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kumo.common.db import Database, declarative_base


async def test_new_columns_are_added_and_old_rows_read_null(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name VARCHAR(20))")
        c.execute("INSERT INTO things (id, name) VALUES (1, 'a')")

    Base = declarative_base()

    class Thing(Base):
        __tablename__ = "things"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        name: Mapped[str] = mapped_column(String(20))
        extra: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    db = Database(f"sqlite+aiosqlite:///{path}", Base.metadata)
    await db.create_schema()
    await db.create_schema()  # a second start finds nothing to add
    async with db.session() as s:
        row = await s.get(Thing, 1)
        assert (row.name, row.extra) == ("a", None)
        row.extra = {"k": 1}
    async with db.session() as s:
        assert (await s.get(Thing, 1)).extra == {"k": 1}
    await db.close()
