"""Trusts (OS-TRUST): CRUD, trust roles, trust-scoped tokens, uses, expiry and revocation."""
from __future__ import annotations

import pytest

from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_project, make_user, password_auth)


@pytest.fixture
async def parties(ks, admin):
    """Trustor tom (member of ``trusted``, plus role ``extra``) and trustee tess: a dict of ids and headers."""
    project = await make_project(ks, admin, "trusted")
    tom = await make_user(ks, admin, "tom", "pw-t", project_id=project["id"])
    tess = await make_user(ks, admin, "tess", "pw-s")
    extra = (await ks.post("/v3/roles", headers=admin, json={"role": {"name": "extra"}})).json()["role"]
    r = await ks.put(f"/v3/projects/{project['id']}/users/{tom['id']}/roles/{extra['id']}", headers=admin)
    assert r.status_code == 204
    tom_token, _ = await issue(ks, password_auth("tom", "pw-t", project="trusted"))
    tess_token, _ = await issue(ks, password_auth("tess", "pw-s", project=None))
    return {"project": project["id"], "tom": tom["id"], "tess": tess["id"], "extra": extra["id"],
            "tom_h": hdr(tom_token), "tess_h": hdr(tess_token), "tess_token": tess_token}


async def make_trust(ks, p, **overrides):
    body = {"trustor_user_id": p["tom"], "trustee_user_id": p["tess"], "impersonation": True,
            "project_id": p["project"], "roles": [{"name": "member"}], **overrides}
    return await ks.post("/v3/OS-TRUST/trusts", headers=p["tom_h"], json={"trust": body})


def trust_auth(token: str, trust_id: str) -> dict:
    return {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                     "scope": {"OS-TRUST:trust": {"id": trust_id}}}}


async def test_create_show_list_and_roles(ks, admin, parties):
    p = parties
    r = await make_trust(ks, p, expires_at="2099-01-01T10:00:00Z")
    assert r.status_code == 201, r.text
    trust = r.json()["trust"]
    assert trust["trustor_user_id"] == p["tom"] and trust["trustee_user_id"] == p["tess"]
    assert trust["impersonation"] is True and trust["expires_at"] == "2099-01-01T10:00:00.000000Z"
    assert [x["name"] for x in trust["roles"]] == ["member"] and trust["remaining_uses"] is None
    assert "/v3/OS-TRUST/trusts/" in trust["links"]["self"]
    for headers in (p["tom_h"], p["tess_h"], admin):
        r = await ks.get(f"/v3/OS-TRUST/trusts/{trust['id']}", headers=headers)
        assert r.status_code == 200 and r.json()["trust"]["id"] == trust["id"]
    r = await ks.get(f"/v3/OS-TRUST/trusts?trustor_user_id={p['tom']}", headers=p["tom_h"])
    assert [t["id"] for t in r.json()["trusts"]] == [trust["id"]] and "roles" not in r.json()["trusts"][0]
    r = await ks.get(f"/v3/OS-TRUST/trusts?trustee_user_id={p['tess']}", headers=p["tess_h"])
    assert [t["id"] for t in r.json()["trusts"]] == [trust["id"]]
    assert (await ks.get("/v3/OS-TRUST/trusts", headers=p["tom_h"])).status_code == 403
    assert [t["id"] for t in (await ks.get("/v3/OS-TRUST/trusts", headers=admin)).json()["trusts"]] == \
        [trust["id"]]
    base = f"/v3/OS-TRUST/trusts/{trust['id']}/roles"
    r = await ks.get(base, headers=p["tom_h"])
    assert [x["name"] for x in r.json()["roles"]] == ["member"]
    member = r.json()["roles"][0]["id"]
    assert (await ks.get(f"{base}/{member}", headers=p["tom_h"])).json()["role"]["name"] == "member"
    assert (await ks.head(f"{base}/{member}", headers=p["tom_h"])).status_code == 200
    assert (await ks.get(f"{base}/{p['extra']}", headers=p["tom_h"])).status_code == 404
    assert (await ks.head(f"{base}/{p['extra']}", headers=p["tom_h"])).status_code == 404
    await make_user(ks, admin, "olga", "pw-o")
    olga, _ = await issue(ks, password_auth("olga", "pw-o", project=None))
    assert (await ks.get(f"/v3/OS-TRUST/trusts/{trust['id']}", headers=hdr(olga))).status_code == 403


async def test_creation_rules(ks, admin, parties):
    p = parties
    assert (await make_trust(ks, p, expires_at="bad.123Z")).status_code == 400
    assert (await make_trust(ks, p, remaining_uses=0)).status_code == 400
    r = await ks.post("/v3/OS-TRUST/trusts", headers=p["tess_h"], json={"trust": {
        "trustor_user_id": p["tom"], "trustee_user_id": p["tess"], "impersonation": False,
        "project_id": p["project"], "roles": [{"name": "member"}]}})
    assert r.status_code == 403  # only the trustor creates
    assert (await make_trust(ks, p, roles=[{"name": "admin"}])).status_code == 403  # not tom's role
    assert (await make_trust(ks, p, roles=[{"name": "nope"}])).status_code == 404
    assert (await make_trust(ks, p, trustee_user_id="missing")).status_code == 404
    assert (await make_trust(ks, p, project_id="missing")).status_code == 404
    r = await ks.post("/v3/OS-TRUST/trusts", headers=p["tom_h"], json={"trust": {"trustor_user_id": p["tom"]}})
    assert r.status_code == 400


@pytest.mark.parametrize("impersonation", [True, False])
async def test_trust_scoped_tokens(ks, admin, parties, impersonation):
    p = parties
    trust = (await make_trust(ks, p, impersonation=impersonation)).json()["trust"]
    token, t = await issue(ks, trust_auth(p["tess_token"], trust["id"]))
    assert t["user"]["id"] == (p["tom"] if impersonation else p["tess"])
    assert t["project"]["id"] == p["project"] and [x["name"] for x in t["roles"]] == ["member"]
    assert t["OS-TRUST:trust"] == {"id": trust["id"], "impersonation": impersonation,
                                   "trustee_user": {"id": p["tess"]}, "trustor_user": {"id": p["tom"]}}
    subject = {**admin, "X-Subject-Token": token}
    r = await ks.get("/v3/auth/tokens", headers=subject)
    assert r.status_code == 200 and r.json()["token"]["OS-TRUST:trust"]["id"] == trust["id"]
    # Nobody else may use it, and a trust token neither rescopes nor delegates further.
    tom_body = trust_auth(p["tom_h"]["X-Auth-Token"], trust["id"])
    assert (await ks.post("/v3/auth/tokens", json=tom_body)).status_code == 401
    rescope = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                        "scope": {"project": {"id": p["project"]}}}}
    assert (await ks.post("/v3/auth/tokens", json=rescope)).status_code == 403
    r = await ks.post("/v3/OS-TRUST/trusts", headers=hdr(token), json={"trust": {
        "trustor_user_id": t["user"]["id"], "trustee_user_id": p["tess"], "impersonation": False,
        "project_id": p["project"], "roles": [{"name": "member"}]}})
    assert r.status_code == 403
    # Deleting the trust (trustor only) kills its tokens.
    assert (await ks.delete(f"/v3/OS-TRUST/trusts/{trust['id']}", headers=p["tess_h"])).status_code == 403
    assert (await ks.delete(f"/v3/OS-TRUST/trusts/{trust['id']}", headers=p["tom_h"])).status_code == 204
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 404
    assert (await ks.get(f"/v3/OS-TRUST/trusts/{trust['id']}", headers=p["tom_h"])).status_code == 404


async def test_trustor_losing_the_role_invalidates_the_token(ks, admin, parties):
    p = parties
    trust = (await make_trust(ks, p, roles=[{"id": p["extra"]}])).json()["trust"]
    token, t = await issue(ks, trust_auth(p["tess_token"], trust["id"]))
    assert [x["id"] for x in t["roles"]] == [p["extra"]]
    r = await ks.delete(f"/v3/projects/{p['project']}/users/{p['tom']}/roles/{p['extra']}", headers=admin)
    assert r.status_code == 204
    assert (await ks.get("/v3/auth/tokens", headers={**admin, "X-Subject-Token": token})).status_code == 404


async def test_remaining_uses_and_expiry(ks, admin, parties):
    p = parties
    trust = (await make_trust(ks, p, remaining_uses=1)).json()["trust"]
    await issue(ks, trust_auth(p["tess_token"], trust["id"]))
    assert (await ks.post("/v3/auth/tokens", json=trust_auth(p["tess_token"], trust["id"]))).status_code == 401
    r = await ks.get(f"/v3/OS-TRUST/trusts/{trust['id']}", headers=p["tom_h"])
    assert r.json()["trust"]["remaining_uses"] == 0
    soon = (await make_trust(ks, p, expires_at="2099-01-01T00:00:00Z")).json()["trust"]
    _, t = await issue(ks, trust_auth(p["tess_token"], soon["id"]))
    assert t["expires_at"] <= "2099-01-01T00:00:00.000000Z"
    late = (await make_trust(ks, p, expires_at="2001-01-01T00:00:00Z")).json()["trust"]
    assert (await ks.get(f"/v3/OS-TRUST/trusts/{late['id']}", headers=p["tom_h"])).status_code == 404
    assert (await ks.post("/v3/auth/tokens", json=trust_auth(p["tess_token"], late["id"]))).status_code == 401


async def test_trust_tokens_are_revoked_with_the_trustees_tokens(ks, admin, parties):
    p = parties
    trust = (await make_trust(ks, p, impersonation=True)).json()["trust"]
    token, t = await issue(ks, trust_auth(p["tess_token"], trust["id"]))
    assert t["user"]["id"] == p["tom"]  # the token speaks for the trustor...
    r = await ks.post(f"/v3/users/{p['tess']}/password", json={"user": {"original_password": "pw-s",
                                                                         "password": "pw-s2"}})
    assert r.status_code == 204  # ...but the trustee changing its password revokes it too
    assert (await ks.get("/v3/auth/tokens", headers={**admin, "X-Subject-Token": token})).status_code == 404
