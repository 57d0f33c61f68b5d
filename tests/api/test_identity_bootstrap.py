"""kumo.identity.bootstrap: what keystone-manage bootstrap makes, idempotently."""
from __future__ import annotations

import stat

import pytest
from sqlalchemy import func, select

from kumo.common.db import Database
from kumo.identity import models as m
from kumo.identity.api import component
from kumo.identity.bootstrap import bootstrap
from tests.api.test_identity_base import fast_bcrypt, issue, password_auth  # noqa: F401


async def _counts(settings) -> dict:
    db = Database(settings.database_url("identity"), m.Base.metadata)
    try:
        async with db.session() as s:
            return {t.__tablename__: await s.scalar(select(func.count()).select_from(t))
                    for t in (m.Domain, m.Project, m.User, m.Role, m.ImpliedRole, m.Assignment, m.Region,
                              m.Service, m.Endpoint)}
    finally:
        await db.close()


async def test_bootstrap_is_idempotent_and_resets_passwords(settings, fast_bcrypt, mount):
    first = await bootstrap(settings, admin_password="one", service_password="svc-one")
    counts = await _counts(settings)
    assert counts == {"domains": 1, "projects": 2, "users": 2, "roles": 5, "implied_roles": 3,
                      "assignments": 5, "regions": 1, "services": 4, "endpoints": 12}
    second = await bootstrap(settings, admin_password="two", service_password="svc-two")
    assert second == first
    assert await _counts(settings) == counts
    ks = await mount(component, token=None)
    assert (await ks.post("/v3/auth/tokens", json=password_auth("admin", "one"))).status_code == 401
    await issue(ks, password_auth("admin", "two"))
    await issue(ks, password_auth("kumo", "svc-two", project="service"))


async def test_bootstrap_keys_and_endpoint_overrides(settings, fast_bcrypt, mount):
    ids = await bootstrap(settings, admin_password="pw", service_password="spw",
                          endpoints={"image": "http://images.example:9292", "volumev3": "http://v:8776/v3"})
    keys = settings.fernet_keys
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert sorted(p.name for p in keys.iterdir()) == ["0", "1"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys.iterdir())
    assert set(ids["service_ids"]) == {"identity", "image", "compute", "network", "volumev3"}
    ks = await mount(component, token=None)
    _, t = await issue(ks, password_auth("admin", "pw"))
    urls = {s["type"]: {e["url"] for e in s["endpoints"]} for s in t["catalog"]}
    assert urls["image"] == {"http://images.example:9292"}
    assert urls["identity"] == {"http://127.0.0.1:5000/v3"}
    assert urls["network"] == {"http://127.0.0.1:9696"}
    # Re-running with other URLs moves the endpoints instead of adding new ones.
    again = await bootstrap(settings, admin_password="pw", service_password="spw",
                            endpoints={"image": "http://img2:9292"})
    assert again["endpoint_ids"]["image"] == ids["endpoint_ids"]["image"]
    _, t = await issue(ks, password_auth("admin", "pw"))
    assert {e["url"] for s in t["catalog"] if s["type"] == "image" for e in s["endpoints"]} == {"http://img2:9292"}


async def test_bootstrap_refuses_empty_passwords_and_leaves_nothing(settings, fast_bcrypt):
    with pytest.raises(ValueError):
        await bootstrap(settings, admin_password="", service_password="x")
    assert not settings.path("identity.db").exists()


async def test_bootstrap_failure_rolls_back(settings, fast_bcrypt):
    bad = settings.model_copy(deep=True)
    bad.service_user.domain_id = "missing"
    with pytest.raises(ValueError):
        await bootstrap(bad, admin_password="pw", service_password="spw")
    counts = await _counts(settings)
    assert all(n == 0 for n in counts.values()), counts
