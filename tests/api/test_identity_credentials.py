"""Credentials (encrypted blobs, ec2 ids), OS-EC2, policy documents and OAuth1 consumers."""
from __future__ import annotations

import hashlib
import json
import sqlite3

from tests.api.test_identity_base import (admin, fast_bcrypt, hdr, ids, issue, ks,  # noqa: F401
                                          make_project, make_user, password_auth)


async def test_credential_crud_and_encryption(ks, admin, ids, settings):
    user_id = ids["user_ids"]["admin"]
    blob = json.dumps({"access": "AK1", "secret": "S1"})
    body = {"credential": {"user_id": user_id, "project_id": ids["project_ids"]["admin"], "type": "ec2",
                           "blob": blob}}
    r = await ks.post("/v3/credentials", headers=admin, json=body)
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]
    assert cred["id"] == hashlib.sha256(b"AK1").hexdigest()
    assert cred["blob"] == blob and cred["type"] == "ec2" and cred["user_id"] == user_id
    assert (await ks.post("/v3/credentials", headers=admin, json=body)).status_code == 409
    # The blob is not stored in clear.
    db = sqlite3.connect(settings.path("identity.db"))
    (stored,) = db.execute("SELECT encrypted_blob FROM credentials WHERE id = ?", (cred["id"],)).fetchone()
    db.close()
    # (quotes never occur in a Fernet token's base64url text)
    assert '"S1"' not in stored and '"AK1"' not in stored and stored.startswith("gAAAAA")
    new_blob = json.dumps({"access": "AK2", "secret": "S2"})
    r = await ks.patch(f"/v3/credentials/{cred['id']}", headers=admin, json={"credential": {"blob": new_blob}})
    assert r.status_code == 200 and r.json()["credential"]["id"] == cred["id"]
    assert (await ks.get(f"/v3/credentials/{cred['id']}", headers=admin)).json()["credential"]["blob"] == new_blob
    r = await ks.post("/v3/credentials", headers=admin,
                      json={"credential": {"user_id": user_id, "type": "totp", "blob": "seed"}})
    assert r.status_code == 201 and len(r.json()["credential"]["id"]) == 32
    r = await ks.get("/v3/credentials?type=totp", headers=admin)
    assert [c["type"] for c in r.json()["credentials"]] == ["totp"]
    r = await ks.get(f"/v3/credentials?user_id={user_id}", headers=admin)
    assert len(r.json()["credentials"]) == 2
    assert (await ks.delete(f"/v3/credentials/{cred['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/credentials/{cred['id']}", headers=admin)).status_code == 404


async def test_invalid_credentials_are_400(ks, admin, ids):
    user_id = ids["user_ids"]["admin"]
    good = {"user_id": user_id, "project_id": ids["project_ids"]["admin"], "type": "ec2",
            "blob": json.dumps({"access": "A"})}
    for change in ({"blob": "not json"}, {"blob": json.dumps({"secret": "x"})}, {"project_id": None},
                   {"type": ""}, {"blob": {"access": "A"}}, {"user_id": None}):
        r = await ks.post("/v3/credentials", headers=admin, json={"credential": {**good, **change}})
        assert r.status_code == 400, change
    assert (await ks.get("/v3/credentials", headers=admin)).json()["credentials"] == []


async def test_users_manage_only_their_own_credentials(ks, admin, ids):
    user = await make_user(ks, admin, "owner", "pw", project_id=ids["project_ids"]["admin"])
    token, _ = await issue(ks, password_auth("owner", "pw"))
    me = hdr(token)
    mine = {"credential": {"user_id": user["id"], "type": "cert", "blob": "pem"}}
    r = await ks.post("/v3/credentials", headers=me, json=mine)
    assert r.status_code == 201
    theirs = {"credential": {"user_id": ids["user_ids"]["admin"], "type": "cert", "blob": "pem"}}
    assert (await ks.post("/v3/credentials", headers=me, json=theirs)).status_code == 403
    other = (await ks.post("/v3/credentials", headers=admin, json=theirs)).json()["credential"]
    assert (await ks.get(f"/v3/credentials/{other['id']}", headers=me)).status_code == 403
    assert (await ks.delete(f"/v3/credentials/{other['id']}", headers=me)).status_code == 403
    r = await ks.get("/v3/credentials", headers=me)
    assert [c["user_id"] for c in r.json()["credentials"]] == [user["id"]]
    assert len((await ks.get("/v3/credentials", headers=admin)).json()["credentials"]) == 2


async def test_ec2_credentials(ks, admin, ids):
    project_id = ids["project_ids"]["admin"]
    user = await make_user(ks, admin, "ec2user", "pw", project_id=project_id)
    token, _ = await issue(ks, password_auth("ec2user", "pw"))
    me = hdr(token)
    base = f"/v3/users/{user['id']}/credentials/OS-EC2"
    r = await ks.post(base, headers=me, json={"tenant_id": project_id})
    assert r.status_code == 201, r.text
    ec2 = r.json()["credential"]
    assert ec2["user_id"] == user["id"] and ec2["tenant_id"] == project_id and ec2["trust_id"] is None
    assert ec2["access"] and ec2["secret"] and ec2["links"]["self"].endswith(f"{base}/{ec2['access']}")
    r = await ks.get(f"{base}/{ec2['access']}", headers=me)
    assert r.status_code == 200 and r.json()["credential"]["secret"] == ec2["secret"]
    assert [c["access"] for c in (await ks.get(base, headers=me)).json()["credentials"]] == [ec2["access"]]
    # It is also a v3 credential of type ec2 whose id is the hash of the access key.
    r = await ks.get(f"/v3/credentials/{hashlib.sha256(ec2['access'].encode()).hexdigest()}", headers=admin)
    assert r.status_code == 200 and r.json()["credential"]["type"] == "ec2"
    # Someone else's path or an unknown project.
    admin_base = f"/v3/users/{ids['user_ids']['admin']}/credentials/OS-EC2"
    assert (await ks.get(admin_base, headers=me)).status_code == 403
    assert (await ks.get(f"{admin_base}/{ec2['access']}", headers=admin)).status_code == 404
    assert (await ks.post(base, headers=me, json={"tenant_id": "nope"})).status_code == 404
    assert (await ks.post(base, headers=me, json={})).status_code == 400
    assert (await ks.delete(f"{base}/{ec2['access']}", headers=me)).status_code == 204
    assert (await ks.get(f"{base}/{ec2['access']}", headers=me)).status_code == 404


async def test_policy_documents(ks, admin, ids):
    r = await ks.post("/v3/policies", headers=admin,
                      json={"policy": {"type": "application/json", "blob": "{}", "note": "n"}})
    assert r.status_code == 201
    pol = r.json()["policy"]
    assert pol["type"] == "application/json" and pol["blob"] == "{}" and pol["note"] == "n"
    r = await ks.patch(f"/v3/policies/{pol['id']}", headers=admin, json={"policy": {"type": "text/plain"}})
    assert r.status_code == 200 and r.json()["policy"]["blob"] == "{}"
    assert (await ks.get(f"/v3/policies/{pol['id']}", headers=admin)).json()["policy"]["type"] == "text/plain"
    assert [p["id"] for p in (await ks.get("/v3/policies", headers=admin)).json()["policies"]] == [pol["id"]]
    assert (await ks.post("/v3/policies", headers=admin, json={"policy": {"blob": "x"}})).status_code == 400
    await make_user(ks, admin, "nopol", "pw", project_id=ids["project_ids"]["admin"])
    token, _ = await issue(ks, password_auth("nopol", "pw"))
    assert (await ks.get("/v3/policies", headers=hdr(token))).status_code == 403
    assert (await ks.delete(f"/v3/policies/{pol['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/policies/{pol['id']}", headers=admin)).status_code == 404


async def test_oauth1_consumers(ks, admin):
    r = await ks.post("/v3/OS-OAUTH1/consumers", headers=admin, json={"consumer": {"description": "app"}})
    assert r.status_code == 201
    c = r.json()["consumer"]
    assert c["description"] == "app" and len(c["secret"]) == 32
    r = await ks.get(f"/v3/OS-OAUTH1/consumers/{c['id']}", headers=admin)
    assert r.status_code == 200 and "secret" not in r.json()["consumer"]
    assert r.json()["consumer"]["links"] == c["links"]
    r = await ks.patch(f"/v3/OS-OAUTH1/consumers/{c['id']}", headers=admin,
                       json={"consumer": {"description": "new"}})
    assert r.status_code == 200 and r.json()["consumer"]["description"] == "new"
    r = await ks.patch(f"/v3/OS-OAUTH1/consumers/{c['id']}", headers=admin, json={"consumer": {"secret": "x"}})
    assert r.status_code == 400
    r = await ks.get("/v3/OS-OAUTH1/consumers", headers=admin)
    assert [x["id"] for x in r.json()["consumers"]] == [c["id"]]
    assert (await ks.delete(f"/v3/OS-OAUTH1/consumers/{c['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/OS-OAUTH1/consumers/{c['id']}", headers=admin)).status_code == 404


async def test_project_delete_removes_its_ec2_credentials(ks, admin, ids):
    project = await make_project(ks, admin, "shortlived")
    user_id = ids["user_ids"]["admin"]
    r = await ks.post(f"/v3/users/{user_id}/credentials/OS-EC2", headers=admin, json={"tenant_id": project["id"]})
    access = r.json()["credential"]["access"]
    assert (await ks.delete(f"/v3/projects/{project['id']}", headers=admin)).status_code == 204
    r = await ks.get(f"/v3/users/{user_id}/credentials/OS-EC2/{access}", headers=admin)
    assert r.status_code == 404


async def test_endpoint_policy_associations(ks, admin, ids):
    async def new_policy(blob: str) -> str:
        r = await ks.post("/v3/policies", headers=admin, json={"policy": {"type": "application/json", "blob": blob}})
        return r.json()["policy"]["id"]

    by_service, by_region, direct = await new_policy("s"), await new_policy("r"), await new_policy("e")
    image = ids["service_ids"]["image"]
    eps = (await ks.get(f"/v3/endpoints?service_id={image}", headers=admin)).json()["endpoints"]
    public = next(e for e in eps if e["interface"] == "public")
    assert (await ks.put("/v3/regions/Child", headers=admin,
                         json={"region": {"parent_region_id": "RegionOne"}})).status_code == 201

    async def effective(ep_id: str):
        r = await ks.get(f"/v3/endpoints/{ep_id}/OS-ENDPOINT-POLICY/policy", headers=admin)
        return r.json()["policy"]["blob"] if r.status_code == 200 else r.status_code

    assert await effective(public["id"]) == 404
    base = "/v3/policies/{}/OS-ENDPOINT-POLICY"
    assert (await ks.put(base.format(by_service) + f"/services/{image}", headers=admin)).status_code == 204
    assert await effective(public["id"]) == "s"
    # The service in the endpoint's region (or a parent region) wins over the service alone.
    assert (await ks.put(base.format(by_region) + f"/services/{image}/regions/RegionOne",
                         headers=admin)).status_code == 204
    assert await effective(public["id"]) == "r"
    r = await ks.patch(f"/v3/endpoints/{public['id']}", headers=admin, json={"endpoint": {"region_id": "Child"}})
    assert r.status_code == 200 and await effective(public["id"]) == "r"
    # ...and the endpoint's own association wins over both.
    path = base.format(direct) + f"/endpoints/{public['id']}"
    assert (await ks.head(path, headers=admin)).status_code == 404
    assert (await ks.put(path, headers=admin)).status_code == 204
    assert (await ks.head(path, headers=admin)).status_code == 204
    assert await effective(public["id"]) == "e"
    r = await ks.get(base.format(by_service) + "/endpoints", headers=admin)
    assert {e["id"] for e in r.json()["endpoints"]} == {e["id"] for e in eps}
    r = await ks.get(base.format(direct) + "/endpoints", headers=admin)
    assert [e["id"] for e in r.json()["endpoints"]] == [public["id"]]
    for bad in ("/endpoints/nope", "/services/nope", f"/services/{image}/regions/nope"):
        assert (await ks.put(base.format(direct) + bad, headers=admin)).status_code == 404, bad
    assert (await ks.put(base.format("nope") + f"/services/{image}", headers=admin)).status_code == 404
    # Deleting the endpoint's policy or association falls back again.
    assert (await ks.delete(path, headers=admin)).status_code == 204
    assert (await ks.delete(path, headers=admin)).status_code == 404
    assert (await ks.delete(f"/v3/policies/{by_region}", headers=admin)).status_code == 204
    assert await effective(public["id"]) == "s"


async def test_ec2tokens(ks, admin, ids):
    from datetime import datetime, timezone

    from kumo.identity.ec2tokens import compute
    project_id = ids["project_ids"]["admin"]
    user = await make_user(ks, admin, "ec2signer", "pw", project_id=project_id)
    r = await ks.post(f"/v3/users/{user['id']}/credentials/OS-EC2", headers=admin, json={"tenant_id": project_id})
    cred = r.json()["credential"]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    req = {"access": cred["access"], "host": "ec2.example:8773", "verb": "GET", "path": "/",
           "params": {"SignatureVersion": "2", "SignatureMethod": "HmacSHA256", "Action": "DescribeInstances",
                      "AWSAccessKeyId": cred["access"], "Timestamp": now}}
    req["signature"] = compute(cred["secret"], req)
    r = await ks.post("/v3/ec2tokens", json={"credentials": req})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert token["methods"] == ["ec2credential"] and token["project"]["id"] == project_id
    assert token["user"]["id"] == user["id"]
    check = {**admin, "X-Subject-Token": r.headers["X-Subject-Token"]}
    assert (await ks.get("/v3/auth/tokens", headers=check)).status_code == 200
    assert (await ks.post("/v3/ec2tokens", json={"ec2Credentials": req})).status_code == 200
    for bad in ({**req, "signature": "AAAA"}, {**req, "access": "unknown"},
                {**req, "params": {**req["params"], "Timestamp": "2001-01-01T00:00:00Z"}}):
        assert (await ks.post("/v3/ec2tokens", json={"credentials": bad})).status_code == 401
    assert (await ks.post("/v3/ec2tokens", json={"credentials": {"access": "x"}})).status_code == 400
    assert (await ks.post("/v3/ec2tokens", json={})).status_code == 400
    # Without a role on the credential's project there is no token.
    member = (await ks.get("/v3/roles?name=member", headers=admin)).json()["roles"][0]
    r = await ks.delete(f"/v3/projects/{project_id}/users/{user['id']}/roles/{member['id']}", headers=admin)
    assert r.status_code == 204
    assert (await ks.post("/v3/ec2tokens", json={"credentials": req})).status_code == 401


async def test_user_delete_removes_their_credentials(ks, admin, ids):
    user = await make_user(ks, admin, "gone", "pw")
    r = await ks.post("/v3/credentials", headers=admin,
                      json={"credential": {"user_id": user["id"], "type": "cert", "blob": "pem"}})
    cred_id = r.json()["credential"]["id"]
    assert (await ks.delete(f"/v3/users/{user['id']}", headers=admin)).status_code == 204
    assert (await ks.get(f"/v3/credentials/{cred_id}", headers=admin)).status_code == 404
