"""Application credentials, access rules and the application_credential auth method."""
from __future__ import annotations

import pytest

from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_project, make_user, password_auth)


@pytest.fixture
async def dora(ks, admin):
    """User dora, member of project ``apps``, with a project-scoped token: (user, project, headers)."""
    project = await make_project(ks, admin, "apps")
    user = await make_user(ks, admin, "dora", "pw-d", project_id=project["id"])
    token, _ = await issue(ks, password_auth("dora", "pw-d", project="apps"))
    return user, project, hdr(token)


def cred_auth(**method) -> dict:
    return {"auth": {"identity": {"methods": ["application_credential"], "application_credential": method}}}


async def create(ks, user, headers, **body):
    return await ks.post(f"/v3/users/{user['id']}/application_credentials", headers=headers,
                         json={"application_credential": {"name": "ci", **body}})


async def test_create_show_and_authenticate(ks, dora):
    user, project, headers = dora
    r = await create(ks, user, headers, description="for ci", expires_at="2099-01-01T00:00:00.123456")
    assert r.status_code == 201, r.text
    cred = r.json()["application_credential"]
    assert cred["secret"] and cred["project_id"] == project["id"] and cred["unrestricted"] is False
    assert cred["expires_at"] == "2099-01-01T00:00:00.123456"
    assert {x["name"] for x in cred["roles"]} == {"member", "reader"}
    r = await ks.get(f"/v3/users/{user['id']}/application_credentials/{cred['id']}", headers=headers)
    assert r.status_code == 200 and "secret" not in r.json()["application_credential"]
    _, t = await issue(ks, cred_auth(id=cred["id"], secret=cred["secret"]))
    assert t["methods"] == ["application_credential"] and t["project"]["id"] == project["id"]
    assert t["application_credential"] == {"id": cred["id"], "name": "ci", "restricted": True}
    assert {x["name"] for x in t["roles"]} == {"member", "reader"}
    _, t = await issue(ks, cred_auth(name="ci", user={"id": user["id"]}, secret=cred["secret"]))
    assert t["user"]["id"] == user["id"]
    _, t = await issue(ks, cred_auth(name="ci", user={"name": "dora", "domain": {"id": "default"}},
                                     secret=cred["secret"]))
    assert t["project"]["id"] == project["id"]
    r = await ks.post("/v3/auth/tokens", json=cred_auth(id=cred["id"], secret="wrong"))
    assert r.status_code == 401
    scoped = cred_auth(id=cred["id"], secret=cred["secret"])
    scoped["auth"]["scope"] = {"project": {"name": "apps", "domain": {"id": "default"}}}
    assert (await issue(ks, scoped))[1]["project"]["id"] == project["id"]
    for other in ({"project": {"name": "admin", "domain": {"id": "default"}}}, {"domain": {"id": "default"}}):
        scoped["auth"]["scope"] = other
        assert (await ks.post("/v3/auth/tokens", json=scoped)).status_code == 401


async def test_roles_are_a_subset_and_names_unique(ks, admin, dora):
    user, _, headers = dora
    r = await create(ks, user, headers, roles=[{"name": "reader"}])
    assert r.status_code == 201 and [x["name"] for x in r.json()["application_credential"]["roles"]] == ["reader"]
    secret, cred_id = r.json()["application_credential"]["secret"], r.json()["application_credential"]["id"]
    _, t = await issue(ks, cred_auth(id=cred_id, secret=secret))
    assert [x["name"] for x in t["roles"]] == ["reader"]
    assert (await create(ks, user, headers)).status_code == 409
    r = await create(ks, user, headers, name="admin-please", roles=[{"name": "admin"}])
    assert r.status_code == 404
    r = await create(ks, user, headers, name="bad-time", expires_at="bad.123Z")
    assert r.status_code == 400
    r = await ks.get(f"/v3/users/{user['id']}/application_credentials?name=ci", headers=headers)
    assert [c["name"] for c in r.json()["application_credentials"]] == ["ci"]
    r = await ks.get(f"/v3/users/{user['id']}/application_credentials", headers=headers)
    assert len(r.json()["application_credentials"]) == 1


async def test_only_the_user_creates_and_only_with_a_project_scope(ks, admin, dora):
    user, _, headers = dora
    assert (await create(ks, user, admin)).status_code == 403  # even an admin cannot create one for dora
    unscoped, _ = await issue(ks, password_auth("dora", "pw-d", project=None))
    assert (await create(ks, user, hdr(unscoped))).status_code == 400
    other = await make_user(ks, admin, "eve", "pw-e")
    eve, _ = await issue(ks, password_auth("eve", "pw-e", project=None))
    r = await ks.get(f"/v3/users/{user['id']}/application_credentials", headers=hdr(eve))
    assert r.status_code == 403
    r = await ks.get(f"/v3/users/{other['id']}/application_credentials", headers=admin)
    assert r.status_code == 200 and r.json()["application_credentials"] == []


async def test_restricted_credentials_cannot_delegate(ks, admin, dora):
    user, project, headers = dora
    restricted = (await create(ks, user, headers)).json()["application_credential"]
    token, _ = await issue(ks, cred_auth(id=restricted["id"], secret=restricted["secret"]))
    assert (await create(ks, user, hdr(token), name="child")).status_code == 403
    r = await ks.post("/v3/OS-TRUST/trusts", headers=hdr(token), json={"trust": {
        "trustor_user_id": user["id"], "trustee_user_id": user["id"], "impersonation": False,
        "project_id": project["id"], "roles": [{"name": "member"}]}})
    assert r.status_code == 403
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                     "scope": {"project": {"id": project["id"]}}}}
    assert (await ks.post("/v3/auth/tokens", json=body)).status_code == 403  # no rescoping either
    free = (await create(ks, user, headers, name="free", unrestricted=True)).json()["application_credential"]
    token, _ = await issue(ks, cred_auth(id=free["id"], secret=free["secret"]))
    r = await create(ks, user, hdr(token), name="child")
    assert r.status_code == 201 and {x["name"] for x in r.json()["application_credential"]["roles"]} == \
        {"member", "reader"}


async def test_tokens_die_with_the_credential_or_the_role(ks, admin, dora):
    user, project, headers = dora
    cred = (await create(ks, user, headers)).json()["application_credential"]
    token, _ = await issue(ks, cred_auth(id=cred["id"], secret=cred["secret"]))
    subject = {**admin, "X-Subject-Token": token}
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 200
    member = (await ks.get("/v3/roles?name=member", headers=admin)).json()["roles"][0]["id"]
    r = await ks.delete(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member}", headers=admin)
    assert r.status_code == 204
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 404
    assert (await ks.post("/v3/auth/tokens", json=cred_auth(id=cred["id"], secret=cred["secret"]))).status_code \
        == 401
    r = await ks.put(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member}", headers=admin)
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 200
    r = await ks.delete(f"/v3/users/{user['id']}/application_credentials/{cred['id']}", headers=headers)
    assert r.status_code == 204
    assert (await ks.get("/v3/auth/tokens", headers=subject)).status_code == 404
    r = await ks.get(f"/v3/users/{user['id']}/application_credentials/{cred['id']}", headers=headers)
    assert r.status_code == 404


async def test_expired_credential_is_refused(ks, dora):
    user, _, headers = dora
    cred = (await create(ks, user, headers, expires_at="2001-01-01T00:00:00Z")).json()["application_credential"]
    r = await ks.post("/v3/auth/tokens", json=cred_auth(id=cred["id"], secret=cred["secret"]))
    assert r.status_code == 401


async def test_access_rules_are_shared_and_kept_while_used(ks, dora):
    user, _, headers = dora
    rule = {"service": "compute", "method": "GET", "path": "/v2.1/servers/*/ips"}
    one = (await create(ks, user, headers, access_rules=[rule])).json()["application_credential"]
    (got,) = one["access_rules"]
    assert {k: got[k] for k in rule} == rule
    two = (await create(ks, user, headers, name="two", access_rules=[{"id": got["id"]}])).json()
    assert two["application_credential"]["access_rules"][0]["id"] == got["id"]
    token, t = await issue(ks, cred_auth(id=one["id"], secret=one["secret"]))
    assert t["application_credential"]["access_rules"] == [{"id": got["id"], **rule}]
    base = f"/v3/users/{user['id']}/access_rules"
    r = await ks.get(base, headers=headers)
    assert [a["id"] for a in r.json()["access_rules"]] == [got["id"]]
    r = await ks.get(f"{base}/{got['id']}", headers=headers)
    assert r.status_code == 200 and r.json()["access_rule"]["service"] == "compute"
    assert (await ks.delete(f"{base}/{got['id']}", headers=headers)).status_code == 403
    for cred in (one, two["application_credential"]):
        r = await ks.delete(f"/v3/users/{user['id']}/application_credentials/{cred['id']}", headers=headers)
        assert r.status_code == 204
    assert (await ks.get(base, headers=headers)).json()["access_rules"][0]["id"] == got["id"]
    assert (await ks.delete(f"{base}/{got['id']}", headers=headers)).status_code == 204
    assert (await ks.get(f"{base}/{got['id']}", headers=headers)).status_code == 404
    r = await create(ks, user, headers, name="bad", access_rules=[{"service": "compute", "method": "GET"}])
    assert r.status_code == 400


async def test_access_rules_limit_what_the_token_may_call(ks, dora):
    user, _, headers = dora
    rule = {"service": "identity", "method": "GET", "path": "/v3/users/*"}
    cred = (await create(ks, user, headers, access_rules=[rule])).json()["application_credential"]
    token, _ = await issue(ks, cred_auth(id=cred["id"], secret=cred["secret"]))
    assert (await ks.get(f"/v3/users/{user['id']}", headers=hdr(token))).status_code == 200
    r = await ks.get(f"/v3/users/{user['id']}/application_credentials", headers=hdr(token))
    assert r.status_code == 401
    assert (await ks.get("/v3/auth/catalog", headers=hdr(token))).status_code == 401
