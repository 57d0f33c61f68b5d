"""Compute API: version discovery, microversions, flavors and key pairs."""
from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from tempest.lib.api_schema.response.compute.v2_1 import flavors as f21
from tempest.lib.api_schema.response.compute.v2_1 import flavors_extra_specs as fes21
from tempest.lib.api_schema.response.compute.v2_1 import keypairs as k21
from tempest.lib.api_schema.response.compute.v2_1 import versions as v21
from tempest.lib.api_schema.response.compute.v2_2 import keypairs as k22
from tempest.lib.api_schema.response.compute.v2_55 import flavors as f255
from tempest.lib.api_schema.response.compute.v2_61 import flavors as f261

from kumo.compute import api as compute_api
from tests.api.test_compute_fakes import DEMO, SSH_KEY, mv, validate


@pytest.fixture
async def clients(mount, router):
    demo = await mount(compute_api.component)
    made = {t: httpx.AsyncClient(transport=router, base_url=str(demo.base_url), headers={"X-Auth-Token": t})
            for t in ("admin-token", "alt-token", "reader-token")}
    made["demo-token"] = demo
    made[None] = httpx.AsyncClient(transport=router, base_url=str(demo.base_url))
    yield made
    for token, c in made.items():
        if token != "demo-token":
            await c.aclose()


async def test_version_documents_are_public(clients):
    anon = clients[None]
    r = await anon.get("/")
    validate(v21.list_versions, r)
    versions = {v["id"]: v for v in r.json()["versions"]}
    assert versions["v2.1"]["status"] == "CURRENT" and versions["v2.1"]["version"] == "2.79"
    assert versions["v2.1"]["min_version"] == "2.1"
    assert versions["v2.1"]["links"][0]["href"] == "http://127.0.0.1:8774/v2.1/"
    for path in ("/v2.1", "/v2.1/"):
        r = await anon.get(path)
        validate(v21.get_one_version, r)
        assert r.json()["version"]["id"] == "v2.1"
    assert (await anon.get("/v2.1/flavors")).status_code == 401
    r = await anon.get("/v2.1/flavors")
    assert r.json()["unauthorized"]["code"] == 401


async def test_microversion_negotiation(clients):
    demo = clients["demo-token"]
    r = await demo.get("/v2.1/flavors")
    assert r.headers["openstack-api-version"] == "compute 2.1"
    assert r.headers["x-openstack-nova-api-version"] == "2.1"
    assert "OpenStack-API-Version" in r.headers["vary"]
    assert r.headers["x-compute-request-id"] == r.headers["x-openstack-request-id"]
    r = await demo.get("/v2.1/flavors", headers=mv("latest"))
    assert r.headers["openstack-api-version"] == "compute 2.79"
    r = await demo.get("/v2.1/flavors", headers={"X-OpenStack-Nova-API-Version": "2.53"})
    assert r.headers["openstack-api-version"] == "compute 2.53"
    r = await demo.get("/v2.1/flavors", headers={"OpenStack-API-Version": "volume 3.5, compute 2.60"})
    assert r.headers["x-openstack-nova-api-version"] == "2.60"
    r = await demo.get("/v2.1/flavors", headers=mv("2.200"))
    assert r.status_code == 406
    assert r.json() == {"computeFault": {"code": 406, "message": (
        "Version 2.200 is not supported by the API. Minimum is 2.1 and maximum is 2.79.")}}
    r = await demo.get("/v2.1/flavors", headers=mv("1.9"))
    assert r.status_code == 406
    r = await demo.get("/v2.1/flavors", headers=mv("two"))
    assert r.status_code == 400 and "invalid format" in r.json()["badRequest"]["message"]


async def test_legacy_v2(clients):
    r = await clients[None].get("/v2")
    assert r.json()["version"]["id"] == "v2.0" and r.json()["version"]["status"] == "SUPPORTED"
    await clients["admin-token"].post("/v2.1/flavors", json={"flavor": {"name": "a", "id": "1", "ram": 64,
                                                                        "vcpus": 1, "disk": 0}})
    r = await clients["demo-token"].get(f"/v2/{DEMO}/flavors", headers=mv("2.60"))
    assert r.status_code == 200 and "openstack-api-version" not in r.headers
    assert r.json()["flavors"][0]["links"][0]["href"] == f"http://127.0.0.1:8774/v2/{DEMO}/flavors/1"
    assert "description" not in r.json()["flavors"][0]  # always 2.1 shapes


async def test_project_id_in_url(clients):
    demo = clients["demo-token"]
    r = await demo.get(f"/v2.1/{DEMO}/flavors")
    assert r.status_code == 200 and r.json() == {"flavors": []}
    r = await demo.get("/v2.1/e0000000000000000000000000000003/flavors")
    assert r.status_code == 400 and "doesn't match" in r.json()["badRequest"]["message"]
    await clients["admin-token"].post("/v2.1/flavors", json={"flavor": {"name": "a", "id": "1", "ram": 64,
                                                                        "vcpus": 1, "disk": 0}})
    flavor = (await demo.get(f"/v2.1/{DEMO}/flavors/1")).json()["flavor"]
    assert flavor["links"][0]["href"] == f"http://127.0.0.1:8774/v2.1/{DEMO}/flavors/1"
    assert flavor["links"][1]["href"] == f"http://127.0.0.1:8774/{DEMO}/flavors/1"


async def test_flavor_crud_is_admin_only(clients):
    admin, demo = clients["admin-token"], clients["demo-token"]
    body = {"flavor": {"name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20, "id": "2"}}
    r = await demo.post("/v2.1/flavors", json=body)
    assert r.status_code == 403
    assert r.json()["forbidden"]["message"] == (
        "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.")
    r = await admin.post("/v2.1/flavors", json=body)
    validate(f21.create_update_get_flavor_details, r)
    flavor = r.json()["flavor"]
    assert (flavor["id"], flavor["ram"], flavor["swap"], flavor["os-flavor-access:is_public"]) == ("2", 2048, "", True)
    assert (await admin.post("/v2.1/flavors", json=body)).status_code == 409
    body["flavor"]["id"] = "3"
    r = await admin.post("/v2.1/flavors", json=body)
    assert r.status_code == 409 and r.json()["conflictingRequest"]["message"] == (
        "Flavor with name m1.small already exists.")
    r = await admin.post("/v2.1/flavors", json={"flavor": {"name": "auto", "ram": 512, "vcpus": 1, "disk": 1,
                                                           "swap": 256, "description": "d"}},
                         headers=mv("2.55"))
    validate(f255.create_update_get_flavor_details, r)
    auto = r.json()["flavor"]
    assert len(auto["id"]) == 36 and auto["swap"] == 256 and auto["description"] == "d"
    for bad in ({"name": "x", "ram": 0, "vcpus": 1, "disk": 1}, {"name": " x", "ram": 1, "vcpus": 1, "disk": 1},
                {"name": "x", "ram": 1, "vcpus": 1}, {"name": "x", "ram": 1, "vcpus": 1, "disk": 1, "id": "a/b"},
                {"name": "x", "ram": "lots", "vcpus": 1, "disk": 1}):
        assert (await admin.post("/v2.1/flavors", json={"flavor": bad})).status_code == 400, bad

    r = await demo.get("/v2.1/flavors")
    validate(f21.list_flavors, r)
    assert sorted(f["name"] for f in r.json()["flavors"]) == ["auto", "m1.small"]
    r = await demo.get("/v2.1/flavors/detail", params={"minRam": 1024})
    validate(f21.list_flavors_details, r)
    assert [f["name"] for f in r.json()["flavors"]] == ["m1.small"]
    r = await demo.get("/v2.1/flavors/detail", headers=mv("2.75"))
    assert {f["name"]: f["swap"] for f in r.json()["flavors"]} == {"auto": 256, "m1.small": 0}
    r = await demo.get("/v2.1/flavors/detail", params={"limit": 1})
    assert len(r.json()["flavors"]) == 1 and r.json()["flavors_links"][0]["rel"] == "next"
    assert (await demo.get("/v2.1/flavors", params={"marker": "nope"})).status_code == 400
    r = await demo.put("/v2.1/flavors/2", json={"flavor": {"description": "new"}}, headers=mv("2.55"))
    assert r.status_code == 403
    r = await admin.put("/v2.1/flavors/2", json={"flavor": {"description": "new"}}, headers=mv("2.55"))
    assert r.json()["flavor"]["description"] == "new"

    assert (await demo.delete("/v2.1/flavors/2")).status_code == 403
    assert (await admin.delete("/v2.1/flavors/2")).status_code == 202
    r = await demo.get("/v2.1/flavors/2")
    assert r.status_code == 404 and r.json() == {"itemNotFound": {"code": 404, "message": "Flavor 2 could not be found."}}


async def test_flavor_extra_specs_and_access(clients):
    admin, demo, alt = clients["admin-token"], clients["demo-token"], clients["alt-token"]
    await admin.post("/v2.1/flavors", json={"flavor": {"name": "gpu", "id": "g", "ram": 64, "vcpus": 1, "disk": 0,
                                                       "os-flavor-access:is_public": False}})
    assert (await demo.get("/v2.1/flavors/g")).status_code == 404
    r = await admin.post("/v2.1/flavors/g/action", json={"addTenantAccess": {"tenant": DEMO}})
    assert r.json() == {"flavor_access": [{"flavor_id": "g", "tenant_id": DEMO}]}
    assert (await admin.post("/v2.1/flavors/g/action", json={"addTenantAccess": {"tenant": DEMO}})).status_code == 409
    assert (await demo.get("/v2.1/flavors/g")).status_code == 200
    assert (await alt.get("/v2.1/flavors/g")).status_code == 404
    assert [f["id"] for f in (await demo.get("/v2.1/flavors")).json()["flavors"]] == ["g"]
    assert (await alt.get("/v2.1/flavors")).json()["flavors"] == []
    r = await admin.get("/v2.1/flavors", params={"is_public": "none"})
    assert [f["id"] for f in r.json()["flavors"]] == ["g"]

    r = await demo.post("/v2.1/flavors/g/os-extra_specs", json={"extra_specs": {"hw:cpu_policy": "dedicated"}})
    assert r.status_code == 403
    r = await admin.post("/v2.1/flavors/g/os-extra_specs", json={"extra_specs": {"hw:cpu_policy": "dedicated",
                                                                                  "count": 2}})
    validate(fes21.set_get_flavor_extra_specs, r)
    assert r.json()["extra_specs"]["count"] == "2"
    r = await demo.get("/v2.1/flavors/g/os-extra_specs/hw:cpu_policy")
    validate(fes21.set_get_flavor_extra_specs_key, r)
    assert r.json() == {"hw:cpu_policy": "dedicated"}
    r = await demo.get("/v2.1/flavors/g", headers=mv("2.61"))
    validate(f261.create_update_get_flavor_details, r)
    assert r.json()["flavor"]["extra_specs"] == {"hw:cpu_policy": "dedicated", "count": "2"}
    assert (await admin.delete("/v2.1/flavors/g/os-extra_specs/count")).status_code == 200
    r = await demo.get("/v2.1/flavors/g/os-extra_specs/count")
    assert r.status_code == 404
    r = await admin.post("/v2.1/flavors/g/action", json={"removeTenantAccess": {"tenant": DEMO}})
    assert r.json() == {"flavor_access": []}
    assert (await demo.get("/v2.1/flavors/g")).status_code == 404


def md5_fingerprint(public_key: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_key.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


async def test_keypair_import_and_generate(clients):
    demo, alt = clients["demo-token"], clients["alt-token"]
    r = await demo.post("/v2.1/os-keypairs", json={"keypair": {"name": "mine", "public_key": SSH_KEY}})
    validate(k21.create_keypair, r)
    kp = r.json()["keypair"]
    assert kp["fingerprint"] == md5_fingerprint(SSH_KEY) and "private_key" not in kp
    assert kp["user_id"] == "u-demo"

    r = await demo.post("/v2.1/os-keypairs", json={"keypair": {"name": "gen"}}, headers=mv("2.2"))
    validate(k22.create_keypair, r)
    gen = r.json()["keypair"]
    assert gen["type"] == "ssh" and gen["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    private = serialization.load_pem_private_key(gen["private_key"].encode(), password=None)
    derived = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                serialization.PublicFormat.OpenSSH).decode()
    assert gen["public_key"].startswith(derived)
    assert gen["fingerprint"] == md5_fingerprint(gen["public_key"])

    r = await demo.get("/v2.1/os-keypairs")
    validate(k21.list_keypairs, r)
    assert sorted(k["keypair"]["name"] for k in r.json()["keypairs"]) == ["gen", "mine"]
    r = await demo.get("/v2.1/os-keypairs/mine")
    validate(k21.get_keypair, r)
    assert "private_key" not in r.json()["keypair"]
    validate(k22.get_keypair, await demo.get("/v2.1/os-keypairs/mine", headers=mv("2.2")))

    # per user: alt neither sees nor clashes with demo's names
    assert (await alt.get("/v2.1/os-keypairs")).json() == {"keypairs": []}
    r = await alt.get("/v2.1/os-keypairs/mine")
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == "Keypair mine not found for user u-alt"
    assert (await alt.post("/v2.1/os-keypairs", json={"keypair": {"name": "mine", "public_key": SSH_KEY}})).status_code == 200

    r = await demo.post("/v2.1/os-keypairs", json={"keypair": {"name": "mine", "public_key": SSH_KEY}})
    assert r.status_code == 409 and r.json()["conflictingRequest"]["message"] == "Key pair 'mine' already exists."
    r = await demo.post("/v2.1/os-keypairs", json={"keypair": {"name": "bad", "public_key": "ssh-rsa AAAAnope"}})
    assert r.status_code == 400
    r = await demo.post("/v2.1/os-keypairs", json={"keypair": {"name": "b@d", "public_key": SSH_KEY}})
    assert r.status_code == 400 and "unsafe characters" in r.json()["badRequest"]["message"]
    assert (await clients["reader-token"].post("/v2.1/os-keypairs", json={"keypair": {"name": "r"}})).status_code == 403

    assert (await demo.delete("/v2.1/os-keypairs/gen")).status_code == 202
    assert (await demo.delete("/v2.1/os-keypairs/mine", headers=mv("2.2"))).status_code == 204
    assert (await demo.get("/v2.1/os-keypairs/mine")).status_code == 404
    assert (await demo.delete("/v2.1/os-keypairs/mine")).status_code == 404
