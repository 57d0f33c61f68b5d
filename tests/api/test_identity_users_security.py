"""User options, password changes and the security compliance rules ([identity] settings).

Every rule is off by default (as in keystone); each test turns on the ones it
checks before the identity API starts. Time moves by patching the clock the
rules read (``kumo.identity.security.utcnow``).
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from kumo.common.db import utcnow
from kumo.identity import security
from kumo.identity.api import component
from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_user, password_auth)


@pytest.fixture
def strict(settings):
    """Set compliance settings, then mount: ``await strict(mount, lockout_failure_attempts=2)``."""
    async def _start(mount, **values):
        for key, value in values.items():
            setattr(settings.identity, key, value)
        return await mount(component, token=None)
    return _start


@pytest.fixture
def later(monkeypatch):
    """``later(seconds)`` moves the compliance clock forward."""
    def _move(seconds: float):
        moved = utcnow() + timedelta(seconds=seconds)
        monkeypatch.setattr(security, "utcnow", lambda: moved)
    return _move


def change(user_id: str, old: str, new: str) -> tuple[str, dict]:
    return f"/v3/users/{user_id}/password", {"user": {"original_password": old, "password": new}}


async def login(ks, name: str, password: str) -> int:
    return (await ks.post("/v3/auth/tokens", json=password_auth(name, password, project=None))).status_code


async def test_options_are_stored_shown_and_checked(ks, admin):
    user = await make_user(ks, admin, "opt", "pw-o", options={"ignore_password_expiry": True})
    assert user["options"] == {"ignore_password_expiry": True} and user["password_expires_at"] is None
    r = await ks.patch(f"/v3/users/{user['id']}", headers=admin, json={"user": {"options": {
        "multi_factor_auth_rules": [["password", "totp"]], "ignore_password_expiry": None}}})
    assert r.status_code == 200 and r.json()["user"]["options"] == {"multi_factor_auth_rules": [["password", "totp"]]}
    r = await ks.get("/v3/users?name=opt", headers=admin)
    assert r.json()["users"][0]["options"] == {"multi_factor_auth_rules": [["password", "totp"]]}
    for bad in ({"no_such_option": True}, {"lock_password": "yes"}, {"multi_factor_auth_rules": ["password"]}):
        r = await ks.patch(f"/v3/users/{user['id']}", headers=admin, json={"user": {"options": bad}})
        assert r.status_code == 400, bad


async def test_password_change_needs_no_token_and_revokes_tokens(ks, admin):
    user = await make_user(ks, admin, "pat", "pw-1")
    token, _ = await issue(ks, password_auth("pat", "pw-1", project=None))
    path, body = change(user["id"], "pw-1", "pw-2")
    assert (await ks.post(path, json=body)).status_code == 204
    assert (await ks.get("/v3/auth/tokens", headers={**admin, "X-Subject-Token": token})).status_code == 404
    assert await login(ks, "pat", "pw-1") == 401 and await login(ks, "pat", "pw-2") == 201
    path, body = change(user["id"], "wrong", "pw-3")
    assert (await ks.post(path, json=body)).status_code == 401


async def test_disabling_a_user_revokes_its_tokens_for_good(ks, admin):
    user = await make_user(ks, admin, "dis", "pw-d")
    token, _ = await issue(ks, password_auth("dis", "pw-d", project=None))
    subject = {**admin, "X-Subject-Token": token}
    r = await ks.patch(f"/v3/users/{user['id']}", headers=admin, json={"user": {"enabled": False}})
    assert r.status_code == 200
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 404
    assert await login(ks, "dis", "pw-d") == 401
    await ks.patch(f"/v3/users/{user['id']}", headers=admin, json={"user": {"enabled": True}})
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 404
    assert await login(ks, "dis", "pw-d") == 201


async def test_lock_password_stops_self_service_changes(ks, admin):
    user = await make_user(ks, admin, "locked", "pw-l", options={"lock_password": True})
    path, body = change(user["id"], "pw-l", "pw-new")
    assert (await ks.post(path, json=body)).status_code == 400
    r = await ks.patch(f"/v3/users/{user['id']}", headers=admin, json={"user": {"password": "pw-admin"}})
    assert r.status_code == 200 and await login(ks, "locked", "pw-admin") == 201


async def test_lockout_after_failed_attempts(strict, mount, ids, later):
    ks = await strict(mount, lockout_failure_attempts=2, lockout_duration=60)
    admin_h = hdr((await issue(ks))[0])
    await make_user(ks, admin_h, "lou", "pw-l")
    await make_user(ks, admin_h, "ivy", "pw-i", options={"ignore_lockout_failure_attempts": True})
    assert await login(ks, "lou", "bad") == 401 and await login(ks, "lou", "pw-l") == 201  # a success resets
    assert await login(ks, "lou", "bad") == 401 and await login(ks, "lou", "bad") == 401
    r = await ks.post("/v3/auth/tokens", json=password_auth("lou", "pw-l", project=None))
    assert r.status_code == 401 and "is locked" in r.json()["error"]["message"]  # even the right password
    for _ in range(3):
        assert await login(ks, "ivy", "bad") == 401
    assert await login(ks, "ivy", "pw-i") == 201
    later(61)
    assert await login(ks, "lou", "pw-l") == 201


async def test_password_expiry(strict, mount, ids, later):
    ks = await strict(mount, password_expires_days=10)
    admin_h = hdr((await issue(ks))[0])
    user = await make_user(ks, admin_h, "exp", "pw-e")
    assert user["password_expires_at"].startswith((utcnow() + timedelta(days=10)).strftime("%Y-%m-%d"))
    _, t = await issue(ks, password_auth("exp", "pw-e", project=None))
    assert t["user"]["password_expires_at"] == user["password_expires_at"]
    later(11 * 86400)
    assert await login(ks, "exp", "pw-e") == 401
    path, body = change(user["id"], "pw-e", "pw-f")
    assert (await ks.post(path, json=body)).status_code == 204  # an expired password can still be changed


async def test_password_history_and_minimum_age(strict, mount, ids, later):
    ks = await strict(mount, unique_last_password_count=2, minimum_password_age=1)
    admin_h = hdr((await issue(ks))[0])
    user = await make_user(ks, admin_h, "hist", "pw-0")
    path, body = change(user["id"], "pw-0", "pw-1")
    assert (await ks.post(path, json=body)).status_code == 204
    later(2 * 86400)
    for old, new in (("pw-1", "pw-1"), ("pw-1", "pw-0")):
        path, body = change(user["id"], old, new)
        assert (await ks.post(path, json=body)).status_code == 400, new
    path, body = change(user["id"], "pw-1", "pw-2")
    assert (await ks.post(path, json=body)).status_code == 204
    path, body = change(user["id"], "pw-2", "pw-3")
    assert (await ks.post(path, json=body)).status_code == 400  # too soon
    r = await ks.patch(f"/v3/users/{user['id']}", headers=admin_h, json={"user": {"password": "pw-2"}})
    assert r.status_code == 200  # an admin reset ignores history and age


async def test_password_regex_and_change_upon_first_use(strict, mount, ids):
    ks = await strict(mount, password_regex=r"^.{8,}$", password_regex_description="at least 8 characters",
                      change_password_upon_first_use=True)
    admin_h = hdr((await issue(ks))[0])
    r = await ks.post("/v3/users", headers=admin_h, json={"user": {"name": "short", "password": "abc"}})
    assert r.status_code == 400 and "at least 8 characters" in r.json()["error"]["message"]
    user = await make_user(ks, admin_h, "first", "initial-pw")
    assert await login(ks, "first", "initial-pw") == 401
    path, body = change(user["id"], "initial-pw", "short")
    assert (await ks.post(path, json=body)).status_code == 400
    path, body = change(user["id"], "initial-pw", "chosen-by-me")
    assert (await ks.post(path, json=body)).status_code == 204
    assert await login(ks, "first", "chosen-by-me") == 201
    await make_user(ks, admin_h, "svc", "service-pw", options={"ignore_change_password_upon_first_use": True})
    assert await login(ks, "svc", "service-pw") == 201
