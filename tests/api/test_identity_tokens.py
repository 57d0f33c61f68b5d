"""GET/HEAD/DELETE /v3/auth/tokens: validation, revocation, expiry, restarts."""
from __future__ import annotations

import httpx
import pytest

from kumo.common.api.errors import Unauthorized
from kumo.common.auth.client import RemoteTokenValidator, ServiceAuth
from kumo.common.auth.context import RequestContext
from kumo.identity import tokens
from kumo.identity.api import component
from tests.api.test_identity_base import (UNAUTHORIZED, admin, fast_bcrypt, hdr, ids, issue,  # noqa: F401
                                          ks, make_project, make_user, password_auth)


def subject(token: str) -> dict:
    return {"X-Subject-Token": token}


async def test_validate_returns_the_issued_body(ks, admin):
    token, body = await issue(ks)
    r = await ks.get("/v3/auth/tokens", headers={**admin, **subject(token)})
    assert r.status_code == 200
    assert r.headers["X-Subject-Token"] == token
    assert r.json()["token"] == body
    r = await ks.get("/v3/auth/tokens?nocatalog", headers={**admin, **subject(token)})
    assert "catalog" not in r.json()["token"] and r.json()["token"]["roles"] == body["roles"]


async def test_head_checks_without_body(ks, admin):
    token, _ = await issue(ks)
    r = await ks.head("/v3/auth/tokens", headers={**admin, **subject(token)})
    assert r.status_code == 200 and r.content == b""
    r = await ks.head("/v3/auth/tokens", headers={**admin, **subject(token + "x")})
    assert r.status_code == 404


async def test_invalid_subject_is_404_in_keystone_format(ks, admin):
    for bad in ("garbage", "gAAAAABnotreallyafernettoken", ""):
        r = await ks.get("/v3/auth/tokens", headers={**admin, **subject(bad)})
        if bad:
            assert r.status_code == 404
            err = r.json()["error"]
            assert err["code"] == 404 and err["title"] == "Not Found"
            assert err["message"].startswith("Could not find token")
        else:
            assert r.status_code == 400


async def test_users_validate_their_own_tokens_but_not_others(ks, admin, ids):
    project = await make_project(ks, admin, "own")
    await make_user(ks, admin, "alice", "pw-a", project_id=project["id"])
    await make_user(ks, admin, "bob", "pw-b", project_id=project["id"])
    alice, _ = await issue(ks, password_auth("alice", "pw-a", project="own"))
    alice2, _ = await issue(ks, password_auth("alice", "pw-a", project="own"))
    bob, _ = await issue(ks, password_auth("bob", "pw-b", project="own"))
    assert (await ks.get("/v3/auth/tokens", headers={**hdr(alice), **subject(alice2)})).status_code == 200
    r = await ks.get("/v3/auth/tokens", headers={**hdr(alice), **subject(bob)})
    assert r.status_code == 403 and r.json()["error"]["code"] == 403
    assert (await ks.delete("/v3/auth/tokens", headers={**hdr(alice), **subject(bob)})).status_code == 403
    # The service user (service role) may validate anyone's token.
    svc, _ = await issue(ks, password_auth("kumo", "service-secret", project="service"))
    assert (await ks.get("/v3/auth/tokens", headers={**hdr(svc), **subject(bob)})).status_code == 200


async def test_revoked_token_is_404_and_no_longer_authenticates(ks, admin):
    token, _ = await issue(ks)
    assert (await ks.get("/v3/projects", headers=hdr(token))).status_code == 200
    r = await ks.delete("/v3/auth/tokens", headers={**admin, **subject(token)})
    assert r.status_code == 204
    assert (await ks.get("/v3/auth/tokens", headers={**admin, **subject(token)})).status_code == 404
    r = await ks.get("/v3/projects", headers=hdr(token))
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    assert (await ks.delete("/v3/auth/tokens", headers={**admin, **subject(token)})).status_code == 404
    # Other tokens of the same user are untouched.
    assert (await ks.get("/v3/projects", headers=admin)).status_code == 200


async def test_expired_tokens_are_refused(ks, admin, monkeypatch, settings):
    token, _ = await issue(ks)
    real = tokens.now_us
    later = settings.identity.token_expiration * 1_000_000 + 1
    monkeypatch.setattr(tokens, "now_us", lambda: real() + later)
    other, _ = await issue(ks)  # issued "now" (in the future), still valid
    r = await ks.get("/v3/auth/tokens", headers={**hdr(other), **subject(token)})
    assert r.status_code == 404
    assert (await ks.get("/v3/projects", headers=hdr(token))).status_code == 401
    assert (await ks.get("/v3/projects", headers=hdr(other))).status_code == 200


async def test_role_removal_disable_and_password_change_invalidate_tokens(ks, admin):
    project = await make_project(ks, admin, "inv")
    user = await make_user(ks, admin, "carol", "pw-c", project_id=project["id"])
    member = (await ks.get("/v3/roles?name=member", headers=admin)).json()["roles"][0]["id"]
    t1, _ = await issue(ks, password_auth("carol", "pw-c", project="inv"))
    await ks.delete(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member}", headers=admin)
    assert (await ks.get("/v3/auth/tokens", headers={**admin, **subject(t1)})).status_code == 404
    await ks.put(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member}", headers=admin)
    t2, _ = await issue(ks, password_auth("carol", "pw-c", project="inv"))
    r = await ks.post(f"/v3/users/{user['id']}/password", headers=hdr(t2),
                      json={"user": {"password": "pw-new", "original_password": "pw-c"}})
    assert r.status_code == 204
    assert (await ks.get("/v3/auth/tokens", headers={**admin, **subject(t2)})).status_code == 404
    t3, _ = await issue(ks, password_auth("carol", "pw-new", project="inv"))
    assert (await ks.get("/v3/auth/tokens", headers={**admin, **subject(t3)})).status_code == 200
    await ks.patch(f"/v3/users/{user['id']}", headers=admin, json={"user": {"enabled": False}})
    assert (await ks.get("/v3/auth/tokens", headers={**admin, **subject(t3)})).status_code == 404


async def test_deleting_the_project_invalidates_its_tokens(ks, admin):
    project = await make_project(ks, admin, "gone")
    await make_user(ks, admin, "dave", "pw-d", project_id=project["id"])
    token, _ = await issue(ks, password_auth("dave", "pw-d", project="gone"))
    assert (await ks.delete(f"/v3/projects/{project['id']}", headers=admin)).status_code == 204
    assert (await ks.get("/v3/auth/tokens", headers={**admin, **subject(token)})).status_code == 404


async def test_tokens_and_revocations_survive_a_restart(rt, ids):
    async def started():
        comp = component(rt)
        await comp.start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=comp.app), base_url="http://127.0.0.1:5000")
        return comp, client

    comp1, c1 = await started()
    keep, body = await issue(c1)
    dropped, _ = await issue(c1)
    assert (await c1.delete("/v3/auth/tokens", headers={**hdr(keep), **subject(dropped)})).status_code == 204
    await c1.aclose()
    await comp1.stop()

    comp2, c2 = await started()
    try:
        r = await c2.get("/v3/auth/tokens", headers={**hdr(keep), **subject(keep)})
        assert r.status_code == 200 and r.json()["token"] == body
        r = await c2.get("/v3/auth/tokens", headers={**hdr(keep), **subject(dropped)})
        assert r.status_code == 404
    finally:
        await c2.aclose()
        await comp2.stop()


async def test_tokens_from_another_key_repository_are_rejected(ks, admin, settings, tmp_path):
    token, _ = await issue(ks)
    other = tokens.TokenFormatter(tokens.KeyRepository(tokens.setup_keys(tmp_path / "other-keys")))
    forged = other.pack(tokens.TokenFormatter(tokens.KeyRepository(settings.fernet_keys)).unpack(token))
    r = await ks.get("/v3/auth/tokens", headers={**admin, **subject(forged)})
    assert r.status_code == 404


async def test_other_services_authenticate_and_validate_through_the_common_client(ks, router, settings):
    su = settings.service_user
    auth = ServiceAuth(settings.endpoint("identity"), su.username, "service-secret", su.project_name, su.domain_id)
    await auth.http.aclose()
    auth.http = httpx.AsyncClient(transport=router, timeout=30)
    try:
        assert await auth.endpoint("image") == "http://127.0.0.1:9292"
        assert await auth.endpoint("compute") == "http://127.0.0.1:8774/v2.1"
        validator = RemoteTokenValidator(auth, cache_seconds=0)
        user_token, _ = await issue(ks)
        ctx = RequestContext.from_token(await validator.validate(user_token), user_token)
        assert ctx.user_name == "admin" and ctx.project_name == "admin" and ctx.is_admin
        assert ctx.system is False
        system_body = password_auth(project=None)
        system_body["auth"]["scope"] = {"system": {"all": True}}
        system_token, _ = await issue(ks, system_body)
        ctx = RequestContext.from_token(await validator.validate(system_token), system_token)
        assert ctx.system is True and ctx.project_id is None and ctx.is_admin
        with pytest.raises(Unauthorized):
            await validator.validate(user_token[:-4] + "AAAA")
    finally:
        await auth.close()


async def test_tokens_survive_one_key_rotation(ks, admin, settings):
    token, _ = await issue(ks)
    tokens.rotate_keys(settings.fernet_keys, settings.identity.max_active_keys)
    r = await ks.get("/v3/auth/tokens", headers={**admin, "X-Subject-Token": token})
    assert r.status_code == 200
    fresh, _ = await issue(ks)  # signed with the new primary key
    assert (await ks.get("/v3/auth/tokens", headers={**admin, "X-Subject-Token": fresh})).status_code == 200
