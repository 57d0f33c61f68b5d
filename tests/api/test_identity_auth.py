"""Version discovery and POST /v3/auth/tokens: methods, scopes, refusals."""
from __future__ import annotations

from datetime import datetime

from tests.api.test_identity_base import (UNAUTHORIZED, admin, fast_bcrypt, hdr, ids, issue,  # noqa: F401
                                          ks, make_project, make_user, password_auth)


async def test_version_discovery_uses_the_host_the_client_used(ks):
    r = await ks.get("/", headers={"Host": "cloud.example:5000"})
    assert r.status_code == 300
    (v3,) = r.json()["versions"]["values"]
    assert v3["id"] == "v3.14" and v3["status"] == "stable" and v3["updated"] == "2020-04-07T00:00:00Z"
    assert v3["links"] == [{"rel": "self", "href": "http://cloud.example:5000/v3/"}]
    assert v3["media-types"][0]["type"] == "application/vnd.openstack.identity-v3+json"
    r = await ks.get("/v3")
    assert r.status_code == 200
    assert r.json()["version"]["id"] == "v3.14"
    assert r.json()["version"]["links"][0]["href"] == "http://127.0.0.1:5000/v3/"
    r = await ks.get("/v2.0")
    assert r.status_code == 200 and r.json()["version"]["id"] == "v2.0"


async def test_protected_routes_need_a_valid_token(ks):
    r = await ks.get("/v3/projects")
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    r = await ks.get("/v3/projects", headers=hdr("garbage"))
    assert r.status_code == 401 and r.json() == UNAUTHORIZED


async def test_password_project_scoped_token(ks, ids, settings):
    r = await ks.post("/v3/auth/tokens", json=password_auth())
    assert r.status_code == 201
    token = r.headers["X-Subject-Token"]
    assert len(token) > 100 and "=" not in token
    t = r.json()["token"]
    assert t["methods"] == ["password"]
    assert t["user"] == {"id": ids["user_ids"]["admin"], "name": "admin",
                         "domain": {"id": "default", "name": "Default"}, "password_expires_at": None}
    assert t["project"] == {"id": ids["project_ids"]["admin"], "name": "admin",
                            "domain": {"id": "default", "name": "Default"}}
    assert t["is_domain"] is False
    assert {role["name"] for role in t["roles"]} == {"admin", "manager", "member", "reader"}
    assert all(set(role) == {"id", "name"} for role in t["roles"])
    assert len(t["audit_ids"]) == 1 and len(t["audit_ids"][0]) == 22
    issued = datetime.fromisoformat(t["issued_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(t["expires_at"].replace("Z", "+00:00"))
    assert (expires - issued).total_seconds() == settings.identity.token_expiration
    types = {svc["type"]: svc for svc in t["catalog"]}
    assert set(types) == {"identity", "image", "compute", "network"}
    assert types["compute"]["name"] == "nova"
    identity_eps = {ep["interface"]: ep for ep in types["identity"]["endpoints"]}
    assert set(identity_eps) == {"public", "internal", "admin"}
    assert identity_eps["public"]["url"] == "http://127.0.0.1:5000/v3"
    assert identity_eps["public"]["region"] == identity_eps["public"]["region_id"] == "RegionOne"
    assert set(identity_eps["public"]) == {"id", "interface", "region", "region_id", "url"}
    assert types["compute"]["endpoints"][0]["url"] == "http://127.0.0.1:8774/v2.1"


async def test_password_by_user_id_and_project_id_nocatalog(ks, ids):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": ids["user_ids"]["admin"], "password": "admin-secret"}}},
        "scope": {"project": {"id": ids["project_ids"]["admin"]}}}}
    r = await ks.post("/v3/auth/tokens?nocatalog", json=body)
    assert r.status_code == 201
    t = r.json()["token"]
    assert t["project"]["id"] == ids["project_ids"]["admin"]
    assert "catalog" not in t and t["roles"]


async def test_project_scope_by_domain_name(ks, ids):
    body = password_auth(project=None)
    body["auth"]["scope"] = {"project": {"name": "service", "domain": {"name": "Default"}}}
    body["auth"]["identity"]["password"]["user"] = {"name": "kumo", "domain": {"name": "Default"},
                                                    "password": "service-secret"}
    _, t = await issue(ks, body)
    assert t["project"]["id"] == ids["project_ids"]["service"]
    assert {r["name"] for r in t["roles"]} == {"admin", "manager", "member", "reader", "service"}


async def test_domain_scoped_token(ks):
    _, t = await issue(ks, password_auth(project=None, domain="default"))
    assert t["domain"] == {"id": "default", "name": "Default"}
    assert "project" not in t and "admin" in {r["name"] for r in t["roles"]}
    assert t["catalog"]


async def test_unscoped_token_has_no_roles_project_or_catalog(ks, admin):
    await make_user(ks, admin, "loner", "pw-loner")
    _, t = await issue(ks, password_auth("loner", "pw-loner", project=None))
    assert t["user"]["name"] == "loner"
    assert "project" not in t and "roles" not in t and "catalog" not in t and "domain" not in t


async def test_no_scope_uses_the_default_project_unless_unscoped_is_asked(ks, ids):
    _, t = await issue(ks, password_auth(project=None))
    assert t["project"]["id"] == ids["project_ids"]["admin"]
    _, t = await issue(ks, password_auth(project=None, unscoped=True))
    assert "project" not in t and "roles" not in t


async def test_wrong_password_unknown_user_and_disabled_user_are_401(ks, admin):
    for body in (password_auth(password="nope"), password_auth(user="ghost")):
        r = await ks.post("/v3/auth/tokens", json=body)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED
    project = await make_project(ks, admin, "p1")
    user = await make_user(ks, admin, "u1", "pw-u1", project_id=project["id"])
    await issue(ks, password_auth("u1", "pw-u1", project="p1"))
    r = await ks.patch(f"/v3/users/{user['id']}", headers=admin, json={"user": {"enabled": False}})
    assert r.status_code == 200
    r = await ks.post("/v3/auth/tokens", json=password_auth("u1", "pw-u1", project="p1"))
    assert r.status_code == 401 and r.json() == UNAUTHORIZED


async def test_scope_without_role_or_to_disabled_project_is_401(ks, admin):
    project = await make_project(ks, admin, "p2")
    await make_user(ks, admin, "u2", "pw-u2")
    r = await ks.post("/v3/auth/tokens", json=password_auth("u2", "pw-u2", project="p2"))
    assert r.status_code == 401 and r.json()["error"]["code"] == 401
    r = await ks.patch(f"/v3/projects/{project['id']}", headers=admin, json={"project": {"enabled": False}})
    assert r.status_code == 200
    r = await ks.post("/v3/auth/tokens", json=password_auth(project="p2"))
    assert r.status_code == 401
    r = await ks.post("/v3/auth/tokens", json=password_auth(project="no-such-project"))
    assert r.status_code == 401


async def test_malformed_auth_bodies_are_400(ks):
    bad = [b"not json", b'{"auth": "x"}', b'{"auth": {}}', b'{"auth": {"identity": {"methods": "password"}}}',
           b'{"auth": {"identity": {"methods": ["password"]}}}',
           b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", '
           b'"password": "x"}}}}}',
           b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "x", "password": 5}}}}}']
    for raw in bad:
        r = await ks.post("/v3/auth/tokens", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, raw
        assert r.json()["error"]["code"] == 400 and r.json()["error"]["title"] == "Bad Request"


async def test_unsupported_method_is_401(ks):
    r = await ks.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["totp"], "totp": {}}}})
    assert r.status_code == 401


async def test_token_method_rescopes_keeping_expiry_and_audit_chain(ks, ids):
    unscoped, t0 = await issue(ks, password_auth(project=None, unscoped=True))
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}},
                     "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    scoped, t1 = await issue(ks, body)
    assert set(t1["methods"]) == {"password", "token"}
    assert t1["expires_at"] == t0["expires_at"]
    assert t1["user"] == t0["user"]
    assert t1["project"]["id"] == ids["project_ids"]["admin"]
    assert t1["audit_ids"][1] == t0["audit_ids"][0] and t1["audit_ids"][0] != t0["audit_ids"][0]
    # Revoking the scoped token leaves the unscoped one usable for another scope.
    r = await ks.delete("/v3/auth/tokens", headers={**hdr(scoped), "X-Subject-Token": scoped})
    assert r.status_code == 204
    body["auth"]["scope"] = {"domain": {"id": "default"}}
    _, t2 = await issue(ks, body)
    assert t2["domain"]["id"] == "default"


async def test_token_method_with_invalid_or_revoked_token_is_404(ks, admin):
    r = await ks.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["token"],
                                                                      "token": {"id": "bogus"}}}})
    assert r.status_code == 404 and r.json()["error"]["title"] == "Not Found"
    token, _ = await issue(ks)
    r = await ks.delete("/v3/auth/tokens", headers={**admin, "X-Subject-Token": token})
    assert r.status_code == 204
    r = await ks.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["token"],
                                                                      "token": {"id": token}}}})
    assert r.status_code == 404


async def test_system_scope_needs_a_system_role(ks, admin):
    body = password_auth(project=None)
    body["auth"]["scope"] = {"system": {"all": True}}
    token, t = await issue(ks, body)  # bootstrap gives admin the admin role on the system
    assert t["system"] == {"all": True} and "project" not in t and "domain" not in t
    assert {r["name"] for r in t["roles"]} >= {"admin", "reader"} and t["catalog"]
    await make_user(ks, admin, "nosys", "pw-n")
    body = password_auth("nosys", "pw-n", project=None)
    body["auth"]["scope"] = {"system": {"all": True}}
    r = await ks.post("/v3/auth/tokens", json=body)
    assert r.status_code == 401
