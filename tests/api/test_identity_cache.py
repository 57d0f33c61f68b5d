"""The identity API's token cache (kumo/identity/cache.py).

A repeated validation is answered without SQL, and any identity write
(revocation, user or project disabled, role removed, group membership,
catalog change, a removed Fernet key) makes the next validation see it at
once, also when another process made it (SQLite's data_version). Without
such a signal an entry lives for the TTL.
"""
from __future__ import annotations

import pytest
from sqlalchemy import event, update

from kumo.common.db import Database
from kumo.identity import models as m
from kumo.identity import tokens as fernet
from kumo.identity.cache import TokenCache
from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_project, make_user, password_auth)


def subject(token: str) -> dict:
    return {"X-Subject-Token": token}


@pytest.fixture
def tokens(ks, router, settings):
    """The mounted identity API's TokenService."""
    return router.apps[f"{settings.common.public_host}:{settings.identity.port}"].app.state.tokens


@pytest.fixture
def statements(tokens):
    """SQL statements the identity database runs (a list that grows)."""
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    engine = tokens.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
async def carol(ks, admin):
    """A member of project ``cached`` with a token scoped to it: (user, project, token)."""
    project = await make_project(ks, admin, "cached")
    user = await make_user(ks, admin, "carol", "pw-c", project_id=project["id"])
    token, _ = await issue(ks, password_auth("carol", "pw-c", project="cached"))
    return user, project, token


async def validate(ks, admin, token: str) -> int:
    return (await ks.get("/v3/auth/tokens", headers={**admin, **subject(token)})).status_code


async def test_a_repeated_validation_runs_no_sql(ks, admin, carol, statements):
    _, _, token = carol
    first = await ks.get("/v3/auth/tokens", headers={**admin, **subject(token)})
    assert first.status_code == 200 and statements  # the first one loads the rows
    statements.clear()
    again = await ks.get("/v3/auth/tokens", headers={**admin, **subject(token)})
    assert again.status_code == 200 and again.json() == first.json()
    assert statements == []
    assert [s["type"] for s in again.json()["token"]["catalog"]]


async def test_revocation_is_seen_at_once(ks, admin, carol):
    _, _, token = carol
    assert await validate(ks, admin, token) == 200
    assert (await ks.get("/v3/auth/projects", headers=hdr(token))).status_code == 200  # cached as X-Auth-Token too
    assert (await ks.delete("/v3/auth/tokens", headers={**admin, **subject(token)})).status_code == 204
    assert await validate(ks, admin, token) == 404
    assert (await ks.get("/v3/auth/projects", headers=hdr(token))).status_code == 401


async def test_disabled_user_is_seen_at_once(ks, admin, carol):
    user, _, token = carol
    assert await validate(ks, admin, token) == 200
    r = await ks.patch(f"/v3/users/{user['id']}", headers=admin, json={"user": {"enabled": False}})
    assert r.status_code == 200
    assert await validate(ks, admin, token) == 404


async def test_removed_role_is_seen_at_once(ks, admin, carol):
    user, project, token = carol
    assert await validate(ks, admin, token) == 200
    member = (await ks.get("/v3/roles?name=member", headers=admin)).json()["roles"][0]["id"]
    r = await ks.delete(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member}", headers=admin)
    assert r.status_code == 204
    assert await validate(ks, admin, token) == 404


async def test_disabled_project_is_seen_at_once(ks, admin, carol):
    _, project, token = carol
    assert await validate(ks, admin, token) == 200
    r = await ks.patch(f"/v3/projects/{project['id']}", headers=admin, json={"project": {"enabled": False}})
    assert r.status_code == 200
    assert await validate(ks, admin, token) == 404
    r = await ks.patch(f"/v3/projects/{project['id']}", headers=admin, json={"project": {"enabled": True}})
    assert await validate(ks, admin, token) == 200


async def test_catalog_change_is_seen_at_once(ks, admin, carol):
    _, _, token = carol
    before = (await ks.get("/v3/auth/tokens", headers={**admin, **subject(token)})).json()["token"]["catalog"]
    assert "volumev3" not in {s["type"] for s in before}
    r = await ks.post("/v3/services", headers=admin, json={"service": {"type": "volumev3", "name": "cinderv3"}})
    service_id = r.json()["service"]["id"]
    r = await ks.post("/v3/endpoints", headers=admin, json={"endpoint": {
        "interface": "public", "service_id": service_id, "region_id": "RegionOne", "url": "http://127.0.0.1:8776"}})
    assert r.status_code == 201
    after = (await ks.get("/v3/auth/tokens", headers={**admin, **subject(token)})).json()["token"]["catalog"]
    assert "volumev3" in {s["type"] for s in after}


async def test_leaving_a_group_that_gave_the_role_is_seen_at_once(ks, admin):
    project = await make_project(ks, admin, "grouped")
    user = await make_user(ks, admin, "dave", "pw-d")
    group = (await ks.post("/v3/groups", headers=admin, json={"group": {"name": "g"}})).json()["group"]
    member = (await ks.get("/v3/roles?name=member", headers=admin)).json()["roles"][0]["id"]
    assert (await ks.put(f"/v3/groups/{group['id']}/users/{user['id']}", headers=admin)).status_code == 204
    r = await ks.put(f"/v3/projects/{project['id']}/groups/{group['id']}/roles/{member}", headers=admin)
    assert r.status_code == 204
    token, _ = await issue(ks, password_auth("dave", "pw-d", project="grouped"))
    assert await validate(ks, admin, token) == 200
    assert (await ks.delete(f"/v3/groups/{group['id']}/users/{user['id']}", headers=admin)).status_code == 204
    assert await validate(ks, admin, token) == 404


async def test_a_removed_fernet_key_is_seen_at_once(ks, admin, carol, settings):
    _, _, token = carol
    assert await validate(ks, admin, token) == 200
    # The token's key (the primary) is dropped by a rotation that keeps only 2 keys.
    fernet.rotate_keys(settings.fernet_keys, max_active_keys=2)
    new_admin, _ = await issue(ks)
    assert await validate(ks, hdr(new_admin), token) == 404


async def test_another_process_write_is_seen_at_once(ks, admin, carol, tokens, settings):
    user, _, token = carol
    assert await validate(ks, admin, token) == 200
    # Another process (its own Database on the same file: no write listener here) disables the user.
    other = Database(settings.database_url("identity"), m.Base.metadata)
    try:
        async with other.session() as db:
            await db.execute(update(m.User).where(m.User.id == user["id"]).values(enabled=False))
    finally:
        await other.close()
    assert await validate(ks, admin, token) == 404


async def test_ttl_zero_turns_the_cache_off(ks, admin, carol, tokens, statements):
    _, _, token = carol
    tokens.cache.ttl = 0
    tokens.cache.invalidate()
    assert await validate(ks, admin, token) == 200
    statements.clear()
    assert await validate(ks, admin, token) == 200
    assert statements and len(tokens.cache) == 0


async def test_invalid_tokens_are_not_cached(ks, admin, carol, tokens):
    _, _, token = carol
    assert await validate(ks, admin, token[:-3] + "AAA") == 404
    assert len([k for k in tokens.cache._entries if isinstance(k, str)]) <= 1  # only the admin token


# --- the cache alone -------------------------------------------------------------------------


class _Db:
    def __init__(self):
        self.write_listeners = []


async def test_a_load_that_raced_a_write_is_not_kept():
    db = _Db()
    cache = TokenCache(db)

    async def loader(value):
        for listener in db.write_listeners:  # a write commits while the rows are being read
            listener()
        return value

    assert await cache.load("t", loader, "old") == "old"
    assert cache.get("t") is None
    assert await cache.load("t", lambda v: _value(v), "new") == "new"
    assert cache.get("t") == "new"


async def _value(v):
    return v


async def test_without_a_change_signal_entries_live_for_the_ttl():
    now = [100.0]
    cache = TokenCache(_Db(), ttl=30, clock=lambda: now[0])  # no SQLite file: no data_version
    cache.put("t", "value", cache.generation)
    now[0] += 29.9
    assert cache.get("t") == "value"
    now[0] += 0.1
    assert cache.get("t") is None


async def test_failed_loads_are_not_cached_and_the_oldest_entry_goes_first():
    cache = TokenCache(_Db(), max_entries=2)

    async def fail():
        raise LookupError("no")

    with pytest.raises(LookupError):
        await cache.load("bad", fail)
    assert cache.get("bad") is None and len(cache) == 0
    for key in ("a", "b", "c"):
        cache.put(key, key.upper(), cache.generation)
    assert cache.get("a") is None and cache.get("b") == "B" and cache.get("c") == "C"
