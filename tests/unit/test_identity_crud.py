"""kumo.identity.crud: the shared get / list / add / delete steps of the identity services."""
from __future__ import annotations

import pytest

from kumo.common.api.errors import NotFound
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m


@pytest.fixture
async def db(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/identity.db", m.Base.metadata)
    await database.create_schema()
    return database


async def test_get_or_404_and_fetch(db):
    made = await crud.add_row(db, m.Policy(type="application/json", blob="{}", extra={}))
    async with db.session() as s:
        assert (await crud.get_or_404(s, m.Policy, made.id, "policy")).blob == "{}"
    assert (await crud.fetch(db, m.Policy, made.id, "policy")).id == made.id
    with pytest.raises(NotFound) as err:
        await crud.fetch(db, m.Policy, "nope", "policy")
    assert err.value.message == "Could not find policy: nope."


async def test_list_rows_filters_and_order(db):
    for kind in ("b", "a", "b"):
        await crud.add_row(db, m.Policy(type=kind, blob="x", extra={}))
    every = await crud.list_rows(db, m.Policy)
    assert [p.id for p in every] == sorted(p.id for p in every)
    assert {p.type for p in await crud.list_rows(db, m.Policy, {"type": "b"})} == {"b"}
    assert len(await crud.list_rows(db, m.Policy, {"type": "b"})) == 2
    assert len(await crud.list_rows(db, m.Policy, {"type": None})) == 3
    by_type = await crud.list_rows(db, m.Policy, order_by=(m.Policy.type, m.Policy.id))
    assert [p.type for p in by_type] == ["a", "b", "b"]


async def test_delete_or_404(db):
    made = await crud.add_row(db, m.Policy(type="t", blob="x", extra={}))
    await crud.delete_or_404(db, m.Policy, made.id, "policy")
    assert await crud.list_rows(db, m.Policy) == []
    with pytest.raises(NotFound):
        await crud.delete_or_404(db, m.Policy, made.id, "policy")


def test_merge_extras_keeps_existing_keys():
    class Body:
        def extras(self):
            return {"new": 1}

    row = m.Policy(type="t", blob="x", extra={"old": 2})
    crud.merge_extras(row, Body())
    assert row.extra == {"old": 2, "new": 1}
    Body.extras = lambda self: {}
    crud.merge_extras(row, Body())
    assert row.extra == {"old": 2, "new": 1}
